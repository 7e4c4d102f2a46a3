"""Scenario data edited in the admin. The request path never reads these tables:
`simulator.state.snapshots` turns them into an immutable engine Snapshot."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

RATE_VALIDATORS = [MinValueValidator(0.0), MaxValueValidator(1.0)]
NON_NEGATIVE = [MinValueValidator(0.0)]

# A new model profile's default rate limits: gpt-5's at OpenAI's Tier 1, as for unknown
# models (engine.snapshot.DEFAULT_MODEL). The presets carry their own (migration 0012).
DEFAULT_REQUESTS_PER_MINUTE = 500
DEFAULT_TOKENS_PER_MINUTE = 500_000


class ModelProfile(models.Model):
    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI"
        ANTHROPIC = "anthropic", "Anthropic"
        GOOGLE = "google", "Google"
        OTHER = "other", "Other"

    class Encoding(models.TextChoices):
        O200K = "o200k_base", "o200k_base (GPT-4o, 4.1, 5, o-series; approximation for Claude and Gemini)"
        CL100K = "cl100k_base", "cl100k_base (GPT-4, GPT-3.5)"

    model_id = models.CharField(
        "model id",
        max_length=200,
        unique=True,
        help_text="The model name clients send, e.g. gpt-5. Longer names that extend it "
        "(gpt-5-2025-08-07, gpt-5.1, o3-mini) use this profile too unless a closer one exists.",
    )
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.OPENAI)
    owned_by = models.CharField(max_length=100, default="llmsim", help_text="Shown as owned_by in GET /v1/models.")
    aliases = models.TextField(
        blank=True,
        help_text="Other names for this model, one per line or comma-separated. "
        "* and ? are wildcards: claude-*sonnet* matches claude-3-5-sonnet-20241022. "
        "Azure OpenAI deployment names go here too: a deployment answers with its profile.",
    )
    context_window = models.PositiveIntegerField(
        default=128_000, help_text="Prompts with more tokens are refused with context_length_exceeded."
    )
    max_output_tokens = models.PositiveIntegerField(
        default=16_384, help_text="Larger max_tokens / max_completion_tokens values are refused, as by the real API."
    )
    encoding = models.CharField(
        max_length=20,
        choices=Encoding.choices,
        default=Encoding.O200K,
        help_text="tiktoken vocabulary that counts this model's tokens.",
    )
    ttft_mean_ms = models.FloatField(
        "TTFT mean (ms)", default=600, validators=NON_NEGATIVE, help_text="Mean time to first token."
    )
    ttft_stddev_ms = models.FloatField(
        "TTFT std. dev. (ms)",
        default=150,
        validators=NON_NEGATIVE,
        help_text="Spread of the time to first token (normal distribution, never below 0).",
    )
    tbt_mean_ms = models.FloatField(
        "TBT mean (ms)", default=40, validators=NON_NEGATIVE, help_text="Mean time between two streamed tokens."
    )
    tbt_stddev_ms = models.FloatField(
        "TBT std. dev. (ms)", default=12, validators=NON_NEGATIVE, help_text="Spread of the time between tokens."
    )
    prefill_ms_per_1k_tokens = models.FloatField(
        "prefill (ms per 1k prompt tokens)",
        default=0,
        validators=NON_NEGATIVE,
        help_text="Extra time to first token for every 1,000 prompt tokens.",
    )
    prompt_cache_min_tokens = models.PositiveIntegerField(
        "prompt cache minimum (tokens)",
        null=True,
        blank=True,
        help_text="Shortest prompt prefix the model caches (OpenAI 1,024; Anthropic and Gemini per model). "
        'Empty: the model caches nothing. See docs/providers.md, "Prompt caching".',
    )
    # Heavy tails (issue 22). Log-normal reads the two means above as medians (p50).
    latency_distribution = models.CharField(
        "latency distribution",
        max_length=10,
        choices=[("normal", "Normal (mean ± std. dev.)"), ("lognormal", "Log-normal (p50 and p99)")],
        default="normal",
        help_text="Normal: TTFT and gaps drawn around their means with their std. devs., never below 0. "
        "Log-normal: the TTFT and TBT means are read as medians (p50), the p99s below set the tail and the "
        'std. devs. are not used. Presets: see docs/providers.md, "Presets: prefill and tails".',
    )
    ttft_p99_ms = models.FloatField(
        "TTFT p99 (ms)",
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="Log-normal only: the time to first token 1 % of requests exceed (prefill excluded). "
        "Empty, or not above the TTFT mean (the p50): TTFT stays normal.",
    )
    tbt_p99_ms = models.FloatField(
        "TBT p99 (ms)",
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="Log-normal only: the gap between tokens 1 % of gaps exceed. Empty, or not above the TBT "
        "mean (the p50): gaps stay normal.",
    )
    stall_probability = models.FloatField(
        "stall probability",
        default=0,
        validators=RATE_VALIDATORS,
        help_text="Chance (0 to 1) that a gap between two streamed tokens stalls: it is lengthened by the "
        "stall length. 0: no stalls.",
    )
    stall_ms = models.FloatField(
        "stall length (ms)", default=0, validators=NON_NEGATIVE, help_text="How much longer a stalled gap is."
    )
    is_reasoning = models.BooleanField(
        "reasoning model",
        default=False,
        help_text="Spends hidden reasoning tokens before the first visible one "
        "(reported as completion_tokens_details.reasoning_tokens).",
    )
    listed = models.BooleanField(default=True, help_text="Listed by GET /v1/models.")
    created_at = models.DateTimeField(default=timezone.now, help_text="Shown as created in GET /v1/models.")
    requests_per_minute = models.PositiveIntegerField(
        "requests per minute",
        null=True,
        blank=True,
        default=DEFAULT_REQUESTS_PER_MINUTE,
        validators=[MinValueValidator(1)],
        help_text="Default rate limit per API key (and scenario): requests per minute. The presets carry the "
        "provider's published Tier 1 limits. Reported in the rate-limit headers of every answer; answered with "
        "429 only where enforcement is on (simulator settings or scenario). Empty: no limit.",
    )
    tokens_per_minute = models.PositiveIntegerField(
        "tokens per minute",
        null=True,
        blank=True,
        default=DEFAULT_TOKENS_PER_MINUTE,
        validators=[MinValueValidator(1)],
        help_text="Default rate limit per API key (and scenario): prompt tokens plus the max_tokens reservation "
        "per minute. Tier 1 presets; for Claude the input plus the output tokens per minute (one budget for "
        "both). Empty: no limit.",
    )
    # Prices, USD per million tokens (docs/providers.md#prices lists the presets' sources).
    # Without an input and an output price an answer costs nothing and is not counted.
    input_usd_per_mtok = models.FloatField(
        "input price",
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="USD per million prompt tokens (those not read from or written to a cache). Empty: unknown.",
    )
    cached_input_usd_per_mtok = models.FloatField(
        "cached input price",
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="USD per million prompt tokens read from the prompt cache. Empty: the input price.",
    )
    cache_write_usd_per_mtok = models.FloatField(
        "cache write price",
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="USD per million prompt tokens written to the prompt cache (Anthropic's 5-minute writes). "
        "Empty: the input price (OpenAI and Gemini charge nothing extra).",
    )
    output_usd_per_mtok = models.FloatField(
        "output price",
        null=True,
        blank=True,
        validators=NON_NEGATIVE,
        help_text="USD per million completion tokens, reasoning tokens included. Empty: unknown.",
    )
    prices_as_of = models.DateField(
        "prices as of", null=True, blank=True, help_text="The date of the price list the prices come from."
    )
    # Load (engine.load; docs/providers.md#load). Empty max_concurrency: no limit, no slowdown.
    max_concurrency = models.PositiveIntegerField(
        "max concurrency",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Answers of this model that run at once (per process, or per cluster with LLMSIM_LOAD_SHARED). "
        "Empty: unlimited, and no slowdown under load.",
    )
    load_factor = models.FloatField(
        "load factor",
        default=1.0,
        validators=[MinValueValidator(1.0)],
        help_text="How many times slower tokens (and prefill) come at full concurrency; 1 alone, linear between.",
    )
    queue_size = models.PositiveIntegerField(
        "queue size",
        default=0,
        help_text="Requests that wait (first in, first out) for a slot when all run; past them, the "
        "provider's overload error (OpenAI 503 or 429, Anthropic 529, Gemini 503) with retry-after.",
    )
    overload_status = models.PositiveSmallIntegerField(
        "OpenAI overload status",
        default=503,
        choices=[(503, "503 The engine is currently overloaded"), (429, "429 overloaded (rate-limit class)")],
        help_text="The status OpenAI's routes answer an overload with.",
    )

    class Meta:
        ordering = ["model_id"]
        verbose_name = "model profile"

    def __str__(self) -> str:
        return self.model_id

    def alias_list(self) -> list[str]:
        return [a.strip() for a in self.aliases.replace(",", "\n").splitlines() if a.strip()]

    def clean(self) -> None:
        if self.max_output_tokens and self.context_window and self.max_output_tokens > self.context_window:
            raise ValidationError({"max_output_tokens": "Cannot exceed the context window."})


class ErrorProfile(models.Model):
    class TimeoutAction(models.TextChoices):
        STATUS_504 = "status_504", "Answer 504 Gateway Timeout"
        DISCONNECT = "disconnect", "Close the connection without an answer"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    rate_limit_rate = models.FloatField(
        default=0, validators=RATE_VALIDATORS, help_text="Share of requests answered 429 (0 to 1)."
    )
    server_error_rate = models.FloatField(
        default=0, validators=RATE_VALIDATORS, help_text="Share of requests answered 500 (0 to 1)."
    )
    service_unavailable_rate = models.FloatField(
        default=0, validators=RATE_VALIDATORS, help_text="Share of requests answered 503 (overloaded) (0 to 1)."
    )
    timeout_rate = models.FloatField(
        default=0, validators=RATE_VALIDATORS, help_text="Share of requests that time out (0 to 1)."
    )
    timeout_after_ms = models.PositiveIntegerField(
        default=30_000, help_text="How long a timed-out request is held before the 504 or the disconnect."
    )
    timeout_action = models.CharField(max_length=20, choices=TimeoutAction.choices, default=TimeoutAction.STATUS_504)
    retry_after_ms = models.PositiveIntegerField(
        default=1000, help_text="retry-after advertised on injected 429 and 503 answers."
    )
    disconnect_rate = models.FloatField(
        default=0,
        validators=RATE_VALIDATORS,
        help_text="Share of streamed answers whose connection is closed mid-stream (0 to 1).",
    )
    stream_error_rate = models.FloatField(
        default=0,
        validators=RATE_VALIDATORS,
        help_text="Share of streamed answers that end with an in-stream error event (0 to 1).",
    )
    stall_rate = models.FloatField(
        default=0,
        validators=RATE_VALIDATORS,
        help_text="Share of streamed answers that stop sending for a while mid-stream (0 to 1).",
    )
    fault_after_tokens = models.PositiveIntegerField(
        default=10, help_text="After how many tokens a mid-stream disconnect, error or stall strikes."
    )
    stall_ms = models.PositiveIntegerField(default=5000, help_text="How long a mid-stream stall sends nothing (ms).")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        total = self.rate_limit_rate + self.server_error_rate + self.service_unavailable_rate + self.timeout_rate
        if total > 1.0 + 1e-9:
            raise ValidationError(f"The rates add up to {total:g}; together they cannot exceed 1.")
        faults = self.disconnect_rate + self.stream_error_rate + self.stall_rate
        if faults > 1.0 + 1e-9:
            raise ValidationError(f"The mid-stream fault rates add up to {faults:g}; together they cannot exceed 1.")


class Generator(models.TextChoices):
    """What a simulated model says (engine/generators.py), for the settings and every scenario."""

    LOREM = "lorem", "Lorem ipsum"
    ECHO = "echo", "Echo the last user message"
    RANDOM = "random", "Random words"
    FIXED = "fixed", "Fixed text"


class Scenario(models.Model):
    """A named bundle of behaviour a request picks with x-llmsim-scenario; empty fields inherit the settings."""

    name = models.SlugField(
        max_length=100,
        unique=True,
        help_text="What requests send in the x-llmsim-scenario header (letters, digits, - and _).",
    )
    description = models.TextField(blank=True, help_text="What this scenario is for (shown in the admin).")
    generator = models.CharField(
        max_length=20,
        blank=True,
        choices=Generator.choices,
        help_text="Empty: as in the simulator settings.",
    )
    fixed_text = models.TextField(blank=True, help_text="What the fixed generator says (empty: as in the settings).")
    target_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="Length of lorem and random answers in tokens (empty: as in the settings).",
    )
    latency_profile = models.ForeignKey(
        ModelProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Every model answers with this profile's latency (empty: as in the settings).",
    )
    error_profile = models.ForeignKey(
        ErrorProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Errors and mid-stream faults injected (empty: as in the settings).",
    )
    seed = models.BigIntegerField(
        null=True, blank=True, help_text="Makes answers repeat exactly (empty: as in the settings)."
    )
    tool_call_rate = models.FloatField(
        null=True,
        blank=True,
        validators=RATE_VALIDATORS,
        help_text='tool_choice "auto": how often the model calls a tool when it would (empty: as in the settings).',
    )
    tool_call_rounds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="Rounds of tool calls before the text answer (empty: as in the settings).",
    )
    parallel_tool_calls = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(128)],
        help_text="Tool calls per turn when parallel calls are allowed (empty: as in the settings).",
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Rate limit per API key and model: requests per minute (empty: unlimited).",
    )
    tokens_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Rate limit per API key and model: prompt tokens plus the max_tokens reservation per minute "
        "(empty: unlimited).",
    )
    enforce_model_rate_limits = models.BooleanField(
        "enforce the models' default limits",
        null=True,
        blank=True,
        help_text="Without limits of its own above: Yes answers 429 when a model profile's default limits are "
        "spent; No only reports them in the headers; empty: as in the simulator settings. Limits set above "
        "are always enforced.",
    )
    # Replay scenarios (docs/recording.md): made by `llmsim import --cassettes`, their
    # recordings (simulator/state/recordings.py) answer the requests they match.
    replay_match = models.CharField(
        "replay: match on",
        max_length=20,
        choices=[("body", "the whole body"), ("messages", "the conversation"), ("last_user", "the last user message")],
        default="messages",
        help_text="What of a request must equal a recording's for the recording to answer it (with recordings).",
    )
    replay_speed = models.FloatField(
        "replay: speed",
        default=1.0,
        validators=NON_NEGATIVE,
        help_text="Recorded timing divided by this: 2 is twice as fast, 0 as fast as possible. The "
        "x-llmsim-replay-speed header overrides it per request.",
    )
    replay_unmatched = models.CharField(
        "replay: unmatched requests",
        max_length=20,
        choices=[("generate", "answer as the model would"), ("error", "an error naming the nearest recording")],
        default="generate",
    )
    replay_redact = models.TextField(
        "replay: redact patterns",
        blank=True,
        help_text="The recorder's --redact patterns, one per line: requests are masked the same way before matching.",
    )
    # Batches (docs/providers.md#batches): real ones take up to 24 h; here, seconds.
    batch_duration_s = models.FloatField(
        "batch duration (s)",
        default=10.0,
        validators=NON_NEGATIVE,
        help_text="Seconds a batch takes from creation to its end (x-llmsim-batch-duration-s overrides it).",
    )
    batch_outcome = models.CharField(
        max_length=20,
        choices=[
            ("completed", "completed: every request answered"),
            ("partial", "completed, every second request failed (500)"),
            ("expired", "expired: half the requests answered in time"),
            ("failed", "failed validation: none answered"),
        ],
        default="completed",
        help_text="How batches end (x-llmsim-batch-outcome overrides it). Rules and error rates apply per request.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ResponseRule(models.Model):
    """A scripted answer for requests that match, within a scenario."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100, help_text="A name for this rule (shown in stats and the admin).")
    priority = models.IntegerField(default=100, help_text="Lower runs first; the first rule that matches answers.")
    enabled = models.BooleanField(default=True)
    match_model = models.CharField(
        max_length=200, blank=True, help_text="Model name, exact or a glob such as gpt-4* (empty: any model)."
    )
    match_last_user = models.TextField(
        blank=True, help_text="The last user message contains this (a regular expression when 'regex' is on)."
    )
    match_any_message = models.TextField(
        blank=True, help_text="Some message contains this (a regular expression when 'regex' is on)."
    )
    match_system = models.TextField(blank=True, help_text="The system or developer prompt contains this.")
    regex = models.BooleanField(default=False, help_text="Treat the two message matchers as regular expressions.")
    ignore_case = models.BooleanField(default=True, help_text="Compare message text case-insensitively.")
    match_tools_present = models.BooleanField(
        null=True, blank=True, help_text="Yes: only requests that offer tools; No: only requests without (empty: any)."
    )
    match_tool_offered = models.CharField(
        max_length=64, blank=True, help_text="Only requests that offer a tool of this name."
    )
    match_last_is_tool_result = models.BooleanField(
        null=True,
        blank=True,
        help_text="Yes: only requests whose last message is a tool result (the turn after tool calls); "
        "No: only others (empty: any).",
    )
    match_header = models.CharField(
        max_length=300,
        blank=True,
        help_text="A request header, 'name: value' (value may be a glob) or just 'name' for present.",
    )
    match_api_key = models.CharField(max_length=300, blank=True, help_text="Only requests made with this API key.")
    action = models.JSONField(
        help_text='What to answer, as JSON: {"text": "..."}, {"tool_calls": [{"name": "f", "arguments": {...}}]}, '
        '{"json": {...}}, {"error": {"status": 429, "retry_after_ms": 1000}}, {"latency": {"ttft_ms": 50}}, '
        '{"fault": {"kind": "disconnect", "after_tokens": 5}}, {"generate": true}, or a sequence: '
        '{"sequence": [{"error": {"status": 429}, "times": 2}, {"generate": true}], "scope": "conversation", '
        '"when_exhausted": "repeat_last"}. See docs/scenarios-and-rules.md.'
    )

    class Meta:
        ordering = ["scenario", "priority", "id"]
        constraints = [
            # Sequences, stats and import/export know a rule by its scenario and name.
            models.UniqueConstraint(fields=["scenario", "name"], name="unique_rule_name_per_scenario"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario.name}: {self.name}" if self.scenario_id else self.name

    def clean(self) -> None:
        from simulator.engine.rules import RuleError, check_regex, parse_action

        errors: dict[str, str] = {}
        if self.regex:
            for field_name in ("match_last_user", "match_any_message"):
                try:
                    check_regex(getattr(self, field_name))
                except RuleError as exc:
                    errors[field_name] = str(exc)
        try:
            parse_action(self.action)
        except RuleError as exc:
            errors["action"] = str(exc)
        if errors:
            raise ValidationError(errors)


class SimulatorSettings(models.Model):
    """The one row of global settings (what the YAML config file sets)."""

    generator = models.CharField(max_length=20, choices=Generator.choices, default=Generator.LOREM)
    fixed_text = models.TextField(default="This is a simulated response.", help_text="What the fixed generator says.")
    target_tokens = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="Length of lorem and random answers, in tokens of the model's tokenizer.",
    )
    latency_profile = models.ForeignKey(
        ModelProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="When set, every model answers with this profile's latency instead of its own.",
    )
    default_profile = models.ForeignKey(
        ModelProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Profile for model names no profile matches (empty: a built-in gpt-5-like profile).",
    )
    strict_models = models.BooleanField(
        default=False, help_text="Answer unknown models with 404 model_not_found, as OpenAI does."
    )
    error_profile = models.ForeignKey(
        ErrorProfile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Errors injected into every request (empty: none).",
    )
    seed = models.BigIntegerField(
        null=True, blank=True, help_text="Makes every answer repeat exactly (requests can also send seed)."
    )
    tool_call_rate = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text='With tool_choice "auto": how often the model calls a tool when it would (1 = always, 0 = never).',
    )
    tool_call_rounds = models.PositiveIntegerField(
        default=1,
        validators=[MaxValueValidator(100)],
        help_text="Rounds of tool calls after a user message before the model answers in text (tool_choice auto).",
    )
    parallel_tool_calls = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(128)],
        help_text="Tool calls per turn when the request allows parallel_tool_calls (at most one per tool offered).",
    )
    default_scenario = models.ForeignKey(
        Scenario,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="What requests without an x-llmsim-scenario header get (empty: these settings alone, no rules).",
    )
    enforce_model_rate_limits = models.BooleanField(
        "enforce the models' default limits",
        default=False,
        help_text="Answer 429 when a model profile's default rate limits are spent. Off (the default): the limits "
        "are only reported in the rate-limit headers, so a load test above them is not refused. A scenario "
        "can turn this on or off for itself; a scenario's own limits are always enforced.",
    )

    class Meta:
        verbose_name = "simulator settings"
        verbose_name_plural = "simulator settings"

    def __str__(self) -> str:
        return "Simulator settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls, using: str = "default") -> SimulatorSettings:
        return cls.objects.using(using).get_or_create(pk=1)[0]


class SnapshotVersion(models.Model):
    """A counter bumped on every scenario edit; each server process polls it and
    rebuilds its in-memory snapshot when it moves."""

    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)
    # Resets that must reach every process (simulator/state/resets.py): each process's poller
    # resets its own state when one of these moves.
    sequence_resets = models.BigIntegerField(default=0, help_text="Bumped to restart every rule sequence.")
    rate_limit_resets = models.BigIntegerField(
        default=0, help_text="Bumped to refill every process's in-memory rate-limit buckets."
    )

    class Meta:
        verbose_name = "snapshot version"


class KeyFingerprint(models.Model):
    """A fingerprint of the secret key a server process signs with (never the key), with
    an expiry: processes sharing the database compare theirs (simulator/state/key_agreement.py)."""

    fingerprint = models.CharField(max_length=64, unique=True)
    expires = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "secret key fingerprint"


class ProcessOverrides(models.Model):
    """What a running server process's startup configuration (flags, LLMSIM_* variables, its
    file) overrides of the stored settings, with an expiry: each such process keeps its row
    fresh while it runs, for the admin to show (simulator/process_overrides.py)."""

    server = models.CharField(max_length=300, db_index=True, help_text="The server the process belongs to.")
    process = models.CharField(max_length=200, unique=True, help_text="Host and process id.")
    overrides = models.JSONField(help_text='A list of {"setting", "value", "source"}.')
    expires = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "overrides of a running server"
        verbose_name_plural = "overrides of running servers"


# The rows clients' requests create (stored responses, the Assistants API's objects) and
# the recordings replay scenarios answer with live in their own modules, beside their stores.
from simulator.state.batches import Batch, StoredFile  # noqa: E402, F401
from simulator.state.client_data import (  # noqa: E402, F401
    Assistant,
    ClientData,
    Run,
    StoredResponse,
    Thread,
    ThreadMessage,
    stored_size,
)
from simulator.state.recordings import Recording  # noqa: E402, F401
