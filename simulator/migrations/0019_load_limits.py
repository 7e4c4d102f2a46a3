"""Load per model profile (engine.load; docs/providers.md#load): max_concurrency,
load_factor, queue_size and the status OpenAI's routes answer an overload with.

No data migration: the presets keep max_concurrency empty (no limit, no slowdown), so
every existing profile answers as before.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('simulator', '0018_model_prices'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelprofile',
            name='load_factor',
            field=models.FloatField(default=1.0, help_text='How many times slower tokens (and prefill) come at full concurrency; 1 alone, linear between.', validators=[django.core.validators.MinValueValidator(1.0)], verbose_name='load factor'),
        ),
        migrations.AddField(
            model_name='modelprofile',
            name='max_concurrency',
            field=models.PositiveIntegerField(blank=True, help_text='Answers of this model that run at once (per process, or per cluster with LLMSIM_LOAD_SHARED). Empty: unlimited, and no slowdown under load.', null=True, validators=[django.core.validators.MinValueValidator(1)], verbose_name='max concurrency'),
        ),
        migrations.AddField(
            model_name='modelprofile',
            name='overload_status',
            field=models.PositiveSmallIntegerField(choices=[(503, '503 The engine is currently overloaded'), (429, '429 overloaded (rate-limit class)')], default=503, help_text="The status OpenAI's routes answer an overload with.", verbose_name='OpenAI overload status'),
        ),
        migrations.AddField(
            model_name='modelprofile',
            name='queue_size',
            field=models.PositiveIntegerField(default=0, help_text="Requests that wait (first in, first out) for a slot when all run; past them, the provider's overload error (OpenAI 503 or 429, Anthropic 529, Gemini 503) with retry-after.", verbose_name='queue size'),
        ),
    ]
