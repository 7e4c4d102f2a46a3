import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from .engine.rules import Match, RuleError, describe, parse_action
from .models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings


@admin.register(ModelProfile)
class ModelProfileAdmin(admin.ModelAdmin):
    list_display = (
        "model_id",
        "provider",
        "ttft_mean_ms",
        "ttft_stddev_ms",
        "tbt_mean_ms",
        "tbt_stddev_ms",
        "context_window",
        "max_output_tokens",
        "encoding",
        "is_reasoning",
        "requests_per_minute",
        "tokens_per_minute",
        "listed",
    )
    list_filter = ("provider", "is_reasoning", "encoding", "listed")
    list_editable = ("ttft_mean_ms", "tbt_mean_ms")
    search_fields = ("model_id", "aliases", "owned_by")
    fieldsets = (
        (None, {"fields": ("model_id", "provider", "owned_by", "aliases", "listed", "created_at")}),
        (
            "Latency",
            {
                "fields": (
                    ("ttft_mean_ms", "ttft_stddev_ms"),
                    ("tbt_mean_ms", "tbt_stddev_ms"),
                    "prefill_ms_per_1k_tokens",
                ),
                "description": "Samples come from a normal distribution truncated at 0. "
                "Edits reach running servers within about a second.",
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
    )


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
    """The rule's action as indented JSON, so it reads like the README's examples."""

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
        widgets = {"action": ActionWidget(attrs={"rows": 6, "cols": 60})}


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


class ResponseRuleInline(admin.StackedInline):
    model = ResponseRule
    form = ResponseRuleForm
    extra = 0
    show_change_link = True
    fields = (
        ("name", "priority", "enabled"),
        "action",
        ("match_model", "match_api_key"),
        ("match_last_user", "match_any_message"),
        ("regex", "ignore_case"),
        "match_system",
        ("match_tools_present", "match_tool_offered", "match_last_is_tool_result"),
        "match_header",
        "preview",
    )
    readonly_fields = ("preview",)

    @admin.display(description="What it does")
    def preview(self, obj: ResponseRule) -> str:
        if obj.pk is None:
            return "Shown once saved."
        return format_html("{}<br>→ {}", describe(match_of(obj)), action_summary(obj))


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "description",
        "generator",
        "error_profile",
        "requests_per_minute",
        "tokens_per_minute",
        "rule_count",
        "is_default",
    )
    list_filter = ("generator", "error_profile")
    search_fields = ("name", "description", "rules__name")
    inlines = (ResponseRuleInline,)
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
    )

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

    @admin.display(description="matches")
    def matches(self, obj: ResponseRule) -> str:
        return describe(match_of(obj))

    @admin.display(description="answers with")
    def does(self, obj: ResponseRule) -> str:
        return action_summary(obj)


@admin.register(SimulatorSettings)
class SimulatorSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "generator", "target_tokens", "latency_profile", "error_profile", "strict_models")
    fieldsets = (
        ("Answers", {"fields": ("generator", "target_tokens", "fixed_text", "seed")}),
        ("Models and latency", {"fields": ("latency_profile", "default_profile", "strict_models")}),
        ("Errors", {"fields": ("error_profile",)}),
        ("Rate limits", {"fields": ("enforce_model_rate_limits",)}),
        ("Tool calls", {"fields": ("tool_call_rate", "tool_call_rounds", "parallel_tool_calls")}),
        ("Scenarios", {"fields": ("default_scenario",)}),
    )

    def has_add_permission(self, request) -> bool:
        return not SimulatorSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
