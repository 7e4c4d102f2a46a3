"""Presets: current OpenAI, Anthropic and Google models, plus `instant` for tests.

Latencies follow the seed project's profiles (TTFT / TBT mean and spread in ms).
The data is frozen here on purpose: later edits belong in the admin or in new
migrations, not in this history.
"""

from django.db import migrations

O200K, CL100K = "o200k_base", "cl100k_base"

# model_id, provider, owned_by, aliases, context, max output, encoding,
# ttft mean, ttft sd, tbt mean, tbt sd, reasoning
PRESETS = [
    ("gpt-5", "openai", "openai", "", 400_000, 128_000, O200K, 600, 150, 40, 12, True),
    ("gpt-5-mini", "openai", "openai", "", 400_000, 128_000, O200K, 300, 80, 20, 6, True),
    ("gpt-5-nano", "openai", "openai", "", 400_000, 128_000, O200K, 200, 50, 12, 4, True),
    ("o3", "openai", "openai", "", 200_000, 100_000, O200K, 2000, 500, 30, 10, True),
    ("o4-mini", "openai", "openai", "", 200_000, 100_000, O200K, 2000, 500, 30, 10, True),
    ("gpt-4.1", "openai", "openai", "", 1_047_576, 32_768, O200K, 500, 120, 25, 8, False),
    ("gpt-4o", "openai", "openai", "chatgpt-4o-latest", 128_000, 16_384, O200K, 400, 100, 25, 8, False),
    ("gpt-4o-mini", "openai", "openai", "", 128_000, 16_384, O200K, 300, 80, 15, 5, False),
    ("gpt-4", "openai", "openai", "", 8_192, 8_192, CL100K, 800, 200, 50, 15, False),
    ("gpt-4-turbo", "openai", "openai", "", 128_000, 4_096, CL100K, 800, 200, 50, 15, False),
    ("gpt-3.5-turbo", "openai", "openai", "", 16_385, 4_096, CL100K, 300, 80, 15, 5, False),
    ("claude-opus-4-1", "anthropic", "anthropic", "claude-*opus*", 200_000, 32_000, O200K, 1000, 250, 60, 20, False),
    ("claude-sonnet-4-5", "anthropic", "anthropic", "claude-*sonnet*", 200_000, 64_000, O200K, 500, 120, 30, 10, False),
    ("claude-haiku-4-5", "anthropic", "anthropic", "claude-*haiku*", 200_000, 64_000, O200K, 200, 50, 15, 5, False),
    ("gemini-2.5-pro", "google", "google", "gemini-*pro*", 1_048_576, 65_536, O200K, 600, 150, 35, 10, True),
    ("gemini-2.5-flash", "google", "google", "gemini-*flash*", 1_048_576, 65_536, O200K, 300, 80, 15, 5, False),
    ("instant", "other", "llmsim", "", 1_000_000, 1_000_000, O200K, 0, 0, 0, 0, False),
]


def load_presets(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SimulatorSettings = apps.get_model("simulator", "SimulatorSettings")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    for model_id, provider, owner, aliases, ctx, out, enc, ttft, ttft_sd, tbt, tbt_sd, reasoning in PRESETS:
        ModelProfile.objects.using(db).update_or_create(
            model_id=model_id,
            defaults=dict(
                provider=provider,
                owned_by=owner,
                aliases=aliases,
                context_window=ctx,
                max_output_tokens=out,
                encoding=enc,
                ttft_mean_ms=ttft,
                ttft_stddev_ms=ttft_sd,
                tbt_mean_ms=tbt,
                tbt_stddev_ms=tbt_sd,
                is_reasoning=reasoning,
            ),
        )
    SimulatorSettings.objects.using(db).get_or_create(pk=1)
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


def remove_presets(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    ModelProfile.objects.using(schema_editor.connection.alias).filter(model_id__in=[p[0] for p in PRESETS]).delete()


class Migration(migrations.Migration):
    dependencies = [("simulator", "0001_initial")]
    operations = [migrations.RunPython(load_presets, remove_presets)]
