"""Prices per model profile (USD per million tokens), and the presets' list prices.

The presets' prices are the providers' standard (not batch, not priority) list prices
for prompts up to 200k tokens, as the official price lists give them:
- OpenAI: https://platform.openai.com/docs/pricing (input, cached input, output).
  Writing the cache costs nothing extra: no write price.
- Anthropic: https://platform.claude.com/docs/en/about-claude/pricing (base input,
  5-minute cache writes, cache hits, output).
- Google: https://ai.google.dev/gemini-api/docs/pricing (input, context caching,
  output); implicit caching has no write price.
docs/providers.md ("Prices") lists them. `instant` (LLMSim's own test model) and the
models without a published cached price keep those empty. The figures are frozen here
on purpose: later edits belong in the admin.
"""

import datetime

import django.core.validators
from django.db import migrations, models

PRICES_AS_OF = datetime.date(2025, 11, 1)

# model_id: (input, cached input, cache write, output), USD per million tokens.
PRESET_PRICES = {
    "gpt-5": (1.25, 0.125, None, 10.0),
    "gpt-5-mini": (0.25, 0.025, None, 2.0),
    "gpt-5-nano": (0.05, 0.005, None, 0.40),
    "o3": (2.0, 0.50, None, 8.0),
    "o4-mini": (1.10, 0.275, None, 4.40),
    "gpt-4.1": (2.0, 0.50, None, 8.0),
    "gpt-4o": (2.50, 1.25, None, 10.0),
    "gpt-4o-mini": (0.15, 0.075, None, 0.60),
    "gpt-4": (30.0, None, None, 60.0),
    "gpt-4-turbo": (10.0, None, None, 30.0),
    "gpt-3.5-turbo": (0.50, None, None, 1.50),
    "text-embedding-3-small": (0.02, None, None, 0.0),
    "text-embedding-3-large": (0.13, None, None, 0.0),
    "text-embedding-ada-002": (0.10, None, None, 0.0),
    "claude-opus-4-1": (15.0, 1.50, 18.75, 75.0),
    "claude-sonnet-4-5": (3.0, 0.30, 3.75, 15.0),
    "claude-haiku-4-5": (1.0, 0.10, 1.25, 5.0),
    "gemini-2.5-pro": (1.25, 0.125, None, 10.0),
    "gemini-2.5-flash": (0.30, 0.03, None, 2.50),
}
PRICE_FIELDS = ("input_usd_per_mtok", "cached_input_usd_per_mtok", "cache_write_usd_per_mtok", "output_usd_per_mtok")


def set_preset_prices(apps, schema_editor):
    _update(apps, schema_editor, lambda prices: {**dict(zip(PRICE_FIELDS, prices)), "prices_as_of": PRICES_AS_OF})


def clear_preset_prices(apps, schema_editor):
    _update(apps, schema_editor, lambda prices: dict.fromkeys((*PRICE_FIELDS, "prices_as_of")))


def _update(apps, schema_editor, values):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    for model_id, prices in PRESET_PRICES.items():
        # Only presets that still exist: a deleted one stays deleted.
        ModelProfile.objects.using(db).filter(model_id=model_id).update(**values(prices))
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


class Migration(migrations.Migration):
    dependencies = [
        ("simulator", "0017_latency_tails"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelprofile",
            name="cache_write_usd_per_mtok",
            field=models.FloatField(
                blank=True,
                help_text="USD per million prompt tokens written to the prompt cache (Anthropic's 5-minute writes). Empty: the input price (OpenAI and Gemini charge nothing extra).",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="cache write price",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="cached_input_usd_per_mtok",
            field=models.FloatField(
                blank=True,
                help_text="USD per million prompt tokens read from the prompt cache. Empty: the input price.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="cached input price",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="input_usd_per_mtok",
            field=models.FloatField(
                blank=True,
                help_text="USD per million prompt tokens (those not read from or written to a cache). Empty: unknown.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="input price",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="output_usd_per_mtok",
            field=models.FloatField(
                blank=True,
                help_text="USD per million completion tokens, reasoning tokens included. Empty: unknown.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="output price",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="prices_as_of",
            field=models.DateField(
                blank=True,
                help_text="The date of the price list the prices come from.",
                null=True,
                verbose_name="prices as of",
            ),
        ),
        migrations.RunPython(set_preset_prices, clear_preset_prices),
    ]
