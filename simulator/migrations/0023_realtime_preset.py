"""A preset for gpt-realtime, the model the Realtime API (/v1/realtime) is asked for.

Without one, strict models refused it and its answers cost nothing. Context window,
output limit, text prices and the prompt-cache minimum are OpenAI's model page
(developers.openai.com/api/docs/models/gpt-realtime, read 2026-12-07: 32,000 / 4,096;
$4.00 input, $0.40 cached input, $16.00 output per million text tokens; audio tokens are
priced higher and not simulated). Names that extend it (gpt-realtime-1.5, -2, -mini)
answer with it too. No public per-token timing of the model was found: the timing is
the gpt-4o preset's (the model it grew from). A profile that exists already is left as
it is: it may have been edited in the admin.
"""

import datetime

from django.db import migrations

MODEL_ID = "gpt-realtime"


def load_preset(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    ModelProfile.objects.using(db).get_or_create(
        model_id=MODEL_ID,
        defaults=dict(
            provider="openai",
            owned_by="system",
            context_window=32_000,
            max_output_tokens=4_096,
            encoding="o200k_base",
            ttft_mean_ms=400,
            ttft_stddev_ms=100,
            tbt_mean_ms=25,
            tbt_stddev_ms=8,
            prefill_ms_per_1k_tokens=11,
            latency_distribution="lognormal",
            ttft_p99_ms=1715,
            prompt_cache_min_tokens=1024,
            tokens_per_minute=200_000,
            input_usd_per_mtok=4.0,
            cached_input_usd_per_mtok=0.4,
            output_usd_per_mtok=16.0,
            prices_as_of=datetime.date(2026, 12, 7),
        ),
    )
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


def remove_preset(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    ModelProfile.objects.using(schema_editor.connection.alias).filter(model_id=MODEL_ID).delete()


class Migration(migrations.Migration):
    dependencies = [("simulator", "0022_batches")]
    operations = [migrations.RunPython(load_preset, remove_preset)]
