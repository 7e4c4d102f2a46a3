from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = "Stats"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from stats.recorder import recorder

        recorder.log_requests = settings.LLMSIM_LOG_REQUESTS
