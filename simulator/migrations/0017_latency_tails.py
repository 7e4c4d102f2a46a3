"""Heavy tails and prefill for the model presets (issue 22).

Adds a profile's latency distribution (normal as before, or log-normal given p50 and
p99), the p99s of TTFT and of the gap between tokens, and a rare stall per gap. Then
gives the presets a prefill time per 1,000 prompt tokens and, where measurements show a
tail, a log-normal TTFT. Sources and dates: docs/providers.md, "Presets: prefill and
tails". A preset someone has edited keeps its values: prefill is set only where it is
still 0, the tail only where the distribution is still normal. `instant` keeps zeros.
The figures are frozen here on purpose: later edits belong in the admin.
"""

import django.core.validators
from django.db import migrations, models

# model_id: prefill ms per 1k prompt tokens, and the log-normal TTFT p99 in ms (None:
# TTFT stays normal). The TTFT mean already in the preset becomes the median (p50).
PRESETS = {
    "gpt-5": (8, 2400),
    "gpt-5-mini": (8, None),
    "gpt-5-nano": (8, None),
    "o3": (8, None),
    "o4-mini": (8, None),
    "gpt-4.1": (11, None),
    "gpt-4o": (11, 1715),
    "gpt-4o-mini": (11, 1200),
    "gpt-4": (11, None),
    "gpt-4-turbo": (11, None),
    "gpt-3.5-turbo": (11, None),
    "claude-opus-4-1": (13, 3650),
    "claude-sonnet-4-5": (13, 1825),
    "claude-haiku-4-5": (13, 660),
    "gemini-2.5-pro": (31, 2400),
    "gemini-2.5-flash": (31, 1420),
}


def set_preset_tails(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    for model_id, (prefill, ttft_p99) in PRESETS.items():
        # Only presets that still exist (a deleted one stays deleted), and only values not edited since.
        rows = ModelProfile.objects.using(db).filter(model_id=model_id)
        rows.filter(prefill_ms_per_1k_tokens=0).update(prefill_ms_per_1k_tokens=prefill)
        if ttft_p99 is not None:
            rows.filter(latency_distribution="normal").update(latency_distribution="lognormal", ttft_p99_ms=ttft_p99)
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


def unset_preset_tails(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    db = schema_editor.connection.alias
    for model_id, (prefill, _) in PRESETS.items():
        # The tail's fields go with the schema; prefill returns to 0 where it is still ours.
        ModelProfile.objects.using(db).filter(model_id=model_id, prefill_ms_per_1k_tokens=prefill).update(
            prefill_ms_per_1k_tokens=0
        )


class Migration(migrations.Migration):
    dependencies = [
        ("simulator", "0016_replay_scenarios_and_recordings"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelprofile",
            name="latency_distribution",
            field=models.CharField(
                choices=[("normal", "Normal (mean ± std. dev.)"), ("lognormal", "Log-normal (p50 and p99)")],
                default="normal",
                help_text='Normal: TTFT and gaps drawn around their means with their std. devs., never below 0. Log-normal: the TTFT and TBT means are read as medians (p50), the p99s below set the tail and the std. devs. are not used. Presets: see docs/providers.md, "Presets: prefill and tails".',
                max_length=10,
                verbose_name="latency distribution",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="stall_ms",
            field=models.FloatField(
                default=0,
                help_text="How much longer a stalled gap is.",
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="stall length (ms)",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="stall_probability",
            field=models.FloatField(
                default=0,
                help_text="Chance (0 to 1) that a gap between two streamed tokens stalls: it is lengthened by the stall length. 0: no stalls.",
                validators=[
                    django.core.validators.MinValueValidator(0.0),
                    django.core.validators.MaxValueValidator(1.0),
                ],
                verbose_name="stall probability",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="tbt_p99_ms",
            field=models.FloatField(
                blank=True,
                help_text="Log-normal only: the gap between tokens 1 % of gaps exceed. Empty, or not above the TBT mean (the p50): gaps stay normal.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="TBT p99 (ms)",
            ),
        ),
        migrations.AddField(
            model_name="modelprofile",
            name="ttft_p99_ms",
            field=models.FloatField(
                blank=True,
                help_text="Log-normal only: the time to first token 1 % of requests exceed (prefill excluded). Empty, or not above the TTFT mean (the p50): TTFT stays normal.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0.0)],
                verbose_name="TTFT p99 (ms)",
            ),
        ),
        migrations.RunPython(set_preset_tails, unset_preset_tails),
    ]
