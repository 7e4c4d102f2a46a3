"""Default rate limits per model profile, and the switch that enforces them.

Every model profile gets requests and tokens per minute: reported in the rate-limit
headers of every answer, and enforced (429) only where SimulatorSettings or a scenario
turn `enforce_model_rate_limits` on. Profiles other than the presets (added in the
admin or imported) get the field defaults, gpt-5's.

The presets' figures are each provider's published Tier 1 limits (the tier of a new
paying organisation) for these model versions, as the providers publish them:
- OpenAI: the "Rate limits" table of each model's page,
  https://platform.openai.com/docs/models/<model id> (see also
  https://platform.openai.com/docs/guides/rate-limits); gpt-5 and gpt-5-mini as raised
  on 2025-09-12. Embedding models: the same pages.
- Anthropic: https://docs.anthropic.com/en/api/rate-limits (Tier 1: 50 RPM; Claude
  Opus 4.x and Sonnet 4.x 30,000 input + 8,000 output tokens per minute, Haiku 4.5
  50,000 + 10,000). LLMSim keeps one token budget for input and output, so its limit
  is their sum.
- Google: https://ai.google.dev/gemini-api/docs/rate-limits (Tier 1, as that page
  published it in 2025; Google now shows each project's limits in AI Studio).
`instant` (LLMSim's own test model) gets gpt-5's.

The figures are frozen here on purpose: later edits belong in the admin.
"""

import django.core.validators
from django.db import migrations, models

# model_id: (requests per minute, tokens per minute), Tier 1.
TIER_1_LIMITS = {
    # OpenAI
    "gpt-5": (500, 500_000),
    "gpt-5-mini": (500, 500_000),
    "gpt-5-nano": (500, 200_000),
    "o3": (500, 30_000),
    "o4-mini": (1_000, 100_000),
    "gpt-4.1": (500, 30_000),
    "gpt-4o": (500, 30_000),
    "gpt-4o-mini": (500, 200_000),
    "gpt-4": (500, 10_000),
    "gpt-4-turbo": (500, 30_000),
    "gpt-3.5-turbo": (3_500, 200_000),
    "text-embedding-3-small": (3_000, 1_000_000),
    "text-embedding-3-large": (3_000, 1_000_000),
    "text-embedding-ada-002": (3_000, 1_000_000),
    # Anthropic: input + output tokens per minute
    "claude-opus-4-1": (50, 30_000 + 8_000),
    "claude-sonnet-4-5": (50, 30_000 + 8_000),
    "claude-haiku-4-5": (50, 50_000 + 10_000),
    # Google
    "gemini-2.5-pro": (150, 2_000_000),
    "gemini-2.5-flash": (1_000, 1_000_000),
    # LLMSim's own
    "instant": (500, 500_000),
}


def set_tier_1_limits(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    for model_id, (requests, tokens) in TIER_1_LIMITS.items():
        # Only presets that still exist: a deleted one stays deleted.
        ModelProfile.objects.using(db).filter(model_id=model_id).update(
            requests_per_minute=requests, tokens_per_minute=tokens
        )
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


class Migration(migrations.Migration):
    dependencies = [("simulator", "0011_key_fingerprints")]

    operations = [
        migrations.AddField(
            model_name="modelprofile",
            name="requests_per_minute",
            field=models.PositiveIntegerField(
                blank=True,
                default=500,
                help_text="Default rate limit per API key (and scenario): requests per minute. The presets carry "
                "the provider's published Tier 1 limits. Reported in the rate-limit headers of every answer; "
                "answered with 429 only where enforcement is on (simulator settings or scenario). Empty: no limit.",
                null=True,
                validators=[django.core.validators.MinValueValidator(1)],
                verbose_name="requests per minute",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="tokens_per_minute",
            field=models.PositiveIntegerField(
                blank=True,
                default=500000,
                help_text="Default rate limit per API key (and scenario): prompt tokens plus the max_tokens "
                "reservation per minute. Tier 1 presets; for Claude the input plus the output tokens per minute "
                "(one budget for both). Empty: no limit.",
                null=True,
                validators=[django.core.validators.MinValueValidator(1)],
                verbose_name="tokens per minute",
            ),
        ),
        migrations.AddField(
            model_name="scenario",
            name="enforce_model_rate_limits",
            field=models.BooleanField(
                blank=True,
                help_text="Without limits of its own above: Yes answers 429 when a model profile's default limits "
                "are spent; No only reports them in the headers; empty: as in the simulator settings. Limits set "
                "above are always enforced.",
                null=True,
                verbose_name="enforce the models' default limits",
            ),
        ),
        migrations.AddField(
            model_name="simulatorsettings",
            name="enforce_model_rate_limits",
            field=models.BooleanField(
                default=False,
                help_text="Answer 429 when a model profile's default rate limits are spent. Off (the default): the "
                "limits are only reported in the rate-limit headers, so a load test above them is not refused. A "
                "scenario can turn this on or off for itself; a scenario's own limits are always enforced.",
                verbose_name="enforce the models' default limits",
            ),
        ),
        # Backwards the columns go, and their figures with them: nothing to undo here.
        migrations.RunPython(set_tier_1_limits, migrations.RunPython.noop),
    ]
