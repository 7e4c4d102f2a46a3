import json

from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from simulator import process_overrides
from simulator.engine.rules import Match, RuleError, describe, parse_action
from simulator.models import ErrorProfile, ModelProfile, Recording, ResponseRule, Scenario, SimulatorSettings


def one_line(text: str) -> str:
    """`text` on one line of a list or table, cut off with an ellipsis where it is too long
    (the whole text shows on hover): rows stay one line high."""
    return format_html('<span class="llmsim-one-line" title="{}">{}</span>', text, text)


def short_encoding(encoding: str) -> str:
    """o200k_base → o200k: the choice's label names the models too, five lines in a list column."""
    return encoding.removesuffix("_base")


class TokenizerFilter(admin.SimpleListFilter):
    title = "tokenizer"
    parameter_name = "encoding"

    def lookups(self, request, model_admin):
        return [(value, short_encoding(value)) for value in ModelProfile.Encoding.values]

    def queryset(self, request, queryset):
        return queryset.filter(encoding=self.value()) if self.value() else queryset


@admin.register(ModelProfile)
class ModelProfileAdmin(admin.ModelAdmin):
    # Short columns, so that the list fits a 1,400 px screen beside the admin's two sidebars
    # (about 750 px are left): latency as mean ± std. dev., the tokenizer by its short name;
    # provider and listed are filters (the ids tell the provider anyway).
    list_display = ("model_id", "ttft", "tbt", "context", "max_output", "tokenizer", "reasoning")
    list_filter = ("provider", "is_reasoning", TokenizerFilter, "listed")
    search_fields = ("model_id", "aliases", "owned_by")
    fieldsets = (
        (None, {"fields": ("model_id", "provider", "owned_by", "aliases", "listed", "created_at")}),
        (
            "Latency",
            {
                "fields": (
                    ("ttft_mean_ms", "ttft_stddev_ms"),
                    ("tbt_mean_ms", "tbt_stddev_ms"),
                    ("prefill_ms_per_1k_tokens", "prompt_cache_min_tokens"),
                    "latency_distribution",
                    ("ttft_p99_ms", "tbt_p99_ms"),
                    ("stall_probability", "stall_ms"),
                ),
                "description": "Normal: samples around the mean, truncated at 0. Log-normal: the means are "
                "medians (p50) and the p99s set the tail. Edits reach running servers within about a second.",
            },
        ),
        ("Limits and tokens", {"fields": ("context_window", "max_output_tokens", "encoding", "is_reasoning")}),
        (
            "Default rate limits (per API key)",
            {
                "fields": (("requests_per_minute", "tokens_per_minute"),),
                "description": "The presets carry each provider's published Tier 1 limits. Every answer reports "
                "them in its rate-limit headers (x-ratelimit-*, anthropic-ratelimit-*); a request that does not "
                "fit is refused with 429 only where enforcement is on (Simulator settings, or the scenario). "
                "A scenario's own limits replace these.",
            },
        ),
        (
            "Prices (USD per million tokens)",
            {
                "fields": (
                    ("input_usd_per_mtok", "cached_input_usd_per_mtok"),
                    ("cache_write_usd_per_mtok", "output_usd_per_mtok"),
                    "prices_as_of",
                ),
                "description": "What each answer costs: in /llmsim/stats, /metrics, the dashboard and the "
                "x-llmsim-cost-usd header. The presets carry the providers' list prices (docs/configuration.md).",
            },
        ),
        (
            "Load",
            {
                "fields": (("max_concurrency", "load_factor"), ("queue_size", "overload_status")),
                "description": "Up to max concurrency answers run at once, each slowed linearly with the number "
                "running (load factor times at full concurrency); then the queue; then overload errors. "
                "Empty max concurrency: no limit (the presets).",
            },
        ),
    )

    class Media:
        css = {"all": ["llmsim/admin.css"]}

    @admin.display(description="TTFT (ms)", ordering="ttft_mean_ms")
    def ttft(self, obj: ModelProfile) -> str:
        return f"{obj.ttft_mean_ms:g} ± {obj.ttft_stddev_ms:g}"

    @admin.display(description="TBT (ms)", ordering="tbt_mean_ms")
    def tbt(self, obj: ModelProfile) -> str:
        return f"{obj.tbt_mean_ms:g} ± {obj.tbt_stddev_ms:g}"

    @admin.display(description="context", ordering="context_window")
    def context(self, obj: ModelProfile) -> str:
        return f"{obj.context_window:,}"

    @admin.display(description="max output", ordering="max_output_tokens")
    def max_output(self, obj: ModelProfile) -> str:
        return f"{obj.max_output_tokens:,}"

    @admin.display(description="tokenizer", ordering="encoding")
    def tokenizer(self, obj: ModelProfile) -> str:
        return short_encoding(obj.encoding)

    @admin.display(description="reasoning", boolean=True, ordering="is_reasoning")
    def reasoning(self, obj: ModelProfile) -> bool:
        return obj.is_reasoning


@admin.register(ErrorProfile)
class ErrorProfileAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "rate_limit_rate",
        "server_error_rate",
        "service_unavailable_rate",
        "timeout_rate",
        "timeout_after_ms",
        "timeout_action",
    )
    search_fields = ("name", "description")
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Rates (0 to 1, drawn once per request)",
            {"fields": ("rate_limit_rate", "server_error_rate", "service_unavailable_rate", "timeout_rate")},
        ),
        ("Behaviour", {"fields": ("timeout_after_ms", "timeout_action", "retry_after_ms")}),
        (
            "Mid-stream faults (streamed answers; 0 to 1)",
            {"fields": ("disconnect_rate", "stream_error_rate", "stall_rate", "fault_after_tokens", "stall_ms")},
        ),
    )


class ActionWidget(forms.Textarea):
    """The rule's action as indented JSON, so it reads like the examples in docs/scenarios-and-rules.md."""

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value, indent=2, ensure_ascii=False) if value is not None else ""


class ResponseRuleForm(forms.ModelForm):
    class Meta:
        model = ResponseRule
        fields = "__all__"
        widgets = {
            "action": ActionWidget(attrs={"rows": 6, "cols": 60}),
            # A matcher is a phrase or a pattern: two lines rather than the admin's ten.
            **{
                name: forms.Textarea(attrs={"rows": 2, "cols": 60})
                for name in ("match_last_user", "match_any_message", "match_system")
            },
        }


def match_of(rule: ResponseRule) -> Match:
    return Match(
        model=rule.match_model,
        last_user=rule.match_last_user,
        any_message=rule.match_any_message,
        system=rule.match_system,
        regex=rule.regex,
        ignore_case=rule.ignore_case,
        tools_present=rule.match_tools_present,
        tool_offered=rule.match_tool_offered,
        last_is_tool_result=rule.match_last_is_tool_result,
        header=rule.match_header,
        api_key=rule.match_api_key,
    )


def overrides_table(servers: list[process_overrides.RunningServer]) -> str:
    """The running servers' overrides: per server, each setting, its value and what set it."""
    if not servers:
        return "None: every running server answers with the stored settings."
    return format_html_join(
        "",
        "<p><strong>{}</strong> ({} process{})</p><table><thead><tr><th>Setting</th><th>Value</th><th>Set by</th>"
        "</tr></thead><tbody>{}</tbody></table>",
        (
            (
                server.name,
                server.processes,
                "" if server.processes == 1 else "es",
                format_html_join(
                    "",
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    ((row.get("setting"), row.get("value"), row.get("source")) for row in server.overrides),
                ),
            )
            for server in servers
        ),
    )


def action_summary(rule: ResponseRule) -> str:
    try:
        steps, scope, when_exhausted = parse_action(rule.action)
    except RuleError as exc:
        return f"invalid: {exc}"
    parts = []
    for step in steps:
        what = step.kind
        if step.kind == "text":
            what = f"text {step.text[:40]!r}"
        elif step.kind == "error" and step.error is not None:
            what = f"error {step.error.status}"
        elif step.kind == "tool_calls":
            what = "tool calls " + ", ".join(call.name for call in step.tool_calls)
        if step.fault is not None:
            what += f" + {step.fault.kind} after {step.fault.after_tokens} tokens"
        if step.ttft_ms is not None or step.tbt_ms is not None:
            what += " + latency"
        parts.append(what + (f" x{step.times}" if step.times > 1 else ""))
    if len(steps) == 1 and steps[0].times == 1:
        return parts[0]
    return " → ".join(parts) + f" (per {scope.replace('_', ' ')}; then {when_exhausted.replace('_', ' ')})"


def match_summary(rule: ResponseRule) -> str:
    """What a rule matches, for a column headed "matches"."""
    return describe(match_of(rule)).removeprefix("Requests where ")


class ResponseRuleInline(admin.TabularInline):
    """The scenario's rules as a list, one line each: priority and enabled are edited here,
    everything else on the rule's own page (three full rule forms made a 5,800 px page)."""

    model = ResponseRule
    template = "admin/simulator/scenario/rule_list.html"
    extra = 0
    fields = ("rule", "priority", "enabled", "matches", "answers")
    readonly_fields = ("rule", "matches", "answers")
    verbose_name_plural = "response rules (first match by priority answers)"

    class Media:
        css = {"all": ["llmsim/admin.css"]}

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a rule needs its action: rules are added on their own page (the link below the list)

    @admin.display(description="rule")
    def rule(self, obj: ResponseRule) -> str:
        url = reverse("admin:simulator_responserule_change", args=[obj.pk])
        return format_html('<a href="{}?from=scenario">{}</a>', url, obj.name)

    @admin.display(description="matches")
    def matches(self, obj: ResponseRule) -> str:
        return one_line(match_summary(obj))

    @admin.display(description="answers with")
    def answers(self, obj: ResponseRule) -> str:
        return one_line(action_summary(obj))


class ScenarioForm(forms.ModelForm):
    class Meta:
        model = Scenario
        fields = "__all__"
        # Two lines each rather than the admin's ten: the page shows the whole scenario at a glance.
        widgets = {name: forms.Textarea(attrs={"rows": 2, "cols": 80}) for name in ("description", "fixed_text")}


class RecordingInline(admin.TabularInline):
    """A replay scenario's recordings, one line each, read-only: they come from cassettes."""

    model = Recording
    extra = 0
    can_delete = True
    fields = ("source", "provider", "model", "stream", "status", "complete", "duration_ms", "last_user_text")
    readonly_fields = fields
    verbose_name_plural = "recordings (replayed when a request matches; llmsim import --cassettes)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    form = ScenarioForm
    list_display = (
        "name",
        "summary",
        "generator",
        "error_profile",
        "requests_per_minute",
        "tokens_per_minute",
        "rule_count",
        "is_default",
    )
    list_filter = ("generator", "error_profile")
    search_fields = ("name", "description", "rules__name")
    inlines = (ResponseRuleInline, RecordingInline)
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Answers (empty: as in the simulator settings)",
            {"fields": ("generator", "target_tokens", "fixed_text", "seed")},
        ),
        ("Latency and errors", {"fields": ("latency_profile", "error_profile")}),
        ("Tool calls", {"fields": ("tool_call_rate", "tool_call_rounds", "parallel_tool_calls")}),
        (
            "Rate limits (per API key and model)",
            {
                "fields": ("requests_per_minute", "tokens_per_minute", "enforce_model_rate_limits"),
                "description": "Limits set here are enforced (429 when spent). Without them the model profiles' "
                "default limits count: reported in the headers, and enforced as the last field says.",
            },
        ),
        ("Batches (OpenAI and Anthropic)", {"fields": ("batch_duration_s", "batch_outcome")}),
        (
            "Replay (scenarios with recordings: llmsim import --cassettes)",
            {
                "fields": ("replay_match", "replay_speed", "replay_unmatched", "replay_redact"),
                "classes": ("collapse",),
            },
        ),
    )

    class Media:
        css = {"all": ["llmsim/admin.css"]}

    @admin.display(description="description")
    def summary(self, obj: Scenario) -> str:
        return one_line(obj.description)

    @admin.display(description="rules")
    def rule_count(self, obj: Scenario) -> int:
        return obj.rules.count()

    @admin.display(description="default", boolean=True)
    def is_default(self, obj: Scenario) -> bool:
        return SimulatorSettings.objects.filter(pk=1, default_scenario=obj).exists()


@admin.register(ResponseRule)
class ResponseRuleAdmin(admin.ModelAdmin):
    form = ResponseRuleForm
    list_display = ("name", "scenario", "priority", "enabled", "matches", "does")
    list_filter = ("scenario", "enabled", "regex", "match_tools_present", "match_last_is_tool_result")
    list_editable = ("priority", "enabled")
    search_fields = ("name", "match_model", "match_last_user", "match_any_message", "match_system")
    readonly_fields = ("matches", "does")
    fieldsets = (
        (None, {"fields": ("scenario", "name", "priority", "enabled")}),
        (
            "Matchers (all that are set must hold)",
            {
                "fields": (
                    "match_model",
                    ("match_last_user", "match_any_message"),
                    ("regex", "ignore_case"),
                    "match_system",
                    ("match_tools_present", "match_tool_offered", "match_last_is_tool_result"),
                    "match_header",
                    "match_api_key",
                )
            },
        ),
        ("Answer", {"fields": ("action",)}),
        ("Preview", {"fields": ("matches", "does")}),
    )

    class Media:
        css = {"all": ["llmsim/admin.css"]}

    def get_fieldsets(self, request: HttpRequest, obj=None):
        # A rule not yet saved has nothing to preview: its blank action would read "invalid".
        return self.fieldsets if obj is not None else self.fieldsets[:-1]

    def response_add(self, request: HttpRequest, obj: ResponseRule, post_url_continue=None) -> HttpResponse:
        return self._back_to_scenario(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: ResponseRule) -> HttpResponse:
        return self._back_to_scenario(request, obj) or super().response_change(request, obj)

    def _back_to_scenario(self, request: HttpRequest, obj: ResponseRule) -> HttpResponse | None:
        """Saved from its scenario's page (the rule list's links carry ?from=scenario): go back there."""
        if request.GET.get("from") != "scenario" or {"_continue", "_addanother", "_popup"} & set(request.POST):
            return None
        self.message_user(request, f"The rule “{obj.name}” was saved.")
        return HttpResponseRedirect(reverse("admin:simulator_scenario_change", args=[obj.scenario_id]))

    @admin.display(description="matches")
    def matches(self, obj: ResponseRule) -> str:
        return one_line(match_summary(obj))

    @admin.display(description="answers with")
    def does(self, obj: ResponseRule) -> str:
        return one_line(action_summary(obj))


@admin.register(SimulatorSettings)
class SimulatorSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "generator", "target_tokens", "latency_profile", "error_profile", "strict_models")
    readonly_fields = ("running_overrides",)
    fieldsets = (
        ("Answers", {"fields": ("generator", "target_tokens", "fixed_text", "seed")}),
        ("Models and latency", {"fields": ("latency_profile", "default_profile", "strict_models")}),
        ("Errors", {"fields": ("error_profile",)}),
        ("Rate limits", {"fields": ("enforce_model_rate_limits",)}),
        ("Tool calls", {"fields": ("tool_call_rate", "tool_call_rounds", "parallel_tool_calls")}),
        ("Scenarios", {"fields": ("default_scenario",)}),
        (
            "Overridden by running servers",
            {
                "fields": ("running_overrides",),
                "description": "Servers started with flags, LLMSIM_* variables or a configuration file answer "
                "with those values instead of the stored ones above, for as long as they run.",
            },
        ),
    )

    @admin.display(description="Overrides")
    def running_overrides(self, obj: SimulatorSettings) -> str:
        return overrides_table(process_overrides.running())

    def has_add_permission(self, request) -> bool:
        return not SimulatorSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
