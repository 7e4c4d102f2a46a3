"""The aliases' help text says Azure OpenAI deployments are named there (docs/providers.md#azure-openai).

No data step: a deployment is any name a profile answers to, so the presets need no change.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('simulator', '0020_prompt_cache'),
    ]

    operations = [
        migrations.AlterField(
            model_name='modelprofile',
            name='aliases',
            field=models.TextField(blank=True, help_text='Other names for this model, one per line or comma-separated. * and ? are wildcards: claude-*sonnet* matches claude-3-5-sonnet-20241022. Azure OpenAI deployment names go here too: a deployment answers with its profile.'),
        ),
    ]
