"""Presets for OpenAI's embedding models (POST /v1/embeddings).

An embedding answers at once after a short time to first token that grows with the
input (prefill); nothing is streamed, so there is no time between tokens. The
context window is OpenAI's limit per request (300,000 tokens summed over the inputs;
each input is limited to 8,192 by the endpoint). Profiles that already exist are
left as they are: they may have been edited in the admin.
"""

from django.db import migrations

CL100K = "cl100k_base"

# model_id, ttft mean, ttft sd, prefill ms per 1k prompt tokens
PRESETS = [
    ("text-embedding-3-small", 40, 10, 2),
    ("text-embedding-3-large", 60, 15, 4),
    ("text-embedding-ada-002", 50, 12, 3),
]


def load_presets(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    for model_id, ttft, ttft_sd, prefill in PRESETS:
        ModelProfile.objects.using(db).get_or_create(
            model_id=model_id,
            defaults=dict(
                provider="openai",
                owned_by="system",
                context_window=300_000,
                max_output_tokens=0,
                encoding=CL100K,
                ttft_mean_ms=ttft,
                ttft_stddev_ms=ttft_sd,
                tbt_mean_ms=0,
                tbt_stddev_ms=0,
                prefill_ms_per_1k_tokens=prefill,
            ),
        )
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


def remove_presets(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    ModelProfile.objects.using(schema_editor.connection.alias).filter(model_id__in=[p[0] for p in PRESETS]).delete()


class Migration(migrations.Migration):
    dependencies = [("simulator", "0006_stored_responses")]
    operations = [migrations.RunPython(load_presets, remove_presets)]
