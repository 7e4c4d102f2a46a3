"""Prompt caching (issue 22): the shortest prefix each model caches, and the presets' minimums.

Sources (docs/providers.md, "Prompt caching"):
- OpenAI: https://platform.openai.com/docs/guides/prompt-caching — prompts of 1,024 tokens
  or more, on gpt-4o and newer models (gpt-4, gpt-4-turbo and gpt-3.5-turbo cache nothing).
- Anthropic: https://platform.claude.com/docs/en/build-with-claude/prompt-caching — 1,024
  for Opus 4.1 and Sonnet 4.5, 4,096 for Haiku 4.5.
- Google: https://ai.google.dev/gemini-api/docs/caching (updated 2026-10-13) — implicit
  caching on 2.5 models and newer, 2,048 for Gemini 2.5 Flash and 2.5 Pro.
Only presets whose minimum is still empty are set. Embedding models and `instant` cache nothing.
"""

from django.db import migrations, models

PRESET_MINIMUMS = {
    "gpt-5": 1024,
    "gpt-5-mini": 1024,
    "gpt-5-nano": 1024,
    "o3": 1024,
    "o4-mini": 1024,
    "gpt-4.1": 1024,
    "gpt-4o": 1024,
    "gpt-4o-mini": 1024,
    "claude-opus-4-1": 1024,
    "claude-sonnet-4-5": 1024,
    "claude-haiku-4-5": 4096,
    "gemini-2.5-pro": 2048,
    "gemini-2.5-flash": 2048,
}


def set_preset_minimums(apps, schema_editor):
    ModelProfile = apps.get_model("simulator", "ModelProfile")
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    db = schema_editor.connection.alias
    for model_id, minimum in PRESET_MINIMUMS.items():
        rows = ModelProfile.objects.using(db).filter(model_id=model_id, prompt_cache_min_tokens__isnull=True)
        rows.update(prompt_cache_min_tokens=minimum)
    # Historical models send no signals: announce the new data to running servers.
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


class Migration(migrations.Migration):
    dependencies = [
        ("simulator", "0019_load_limits"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelprofile",
            name="prompt_cache_min_tokens",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Shortest prompt prefix the model caches (OpenAI 1,024; Anthropic and Gemini per model). "
                'Empty: the model caches nothing. See docs/providers.md, "Prompt caching".',
                null=True,
                verbose_name="prompt cache minimum (tokens)",
            ),
        ),
        migrations.RunPython(set_preset_minimums, migrations.RunPython.noop),
    ]
