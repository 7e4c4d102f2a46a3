from django.apps import AppConfig


class StatsConfig(AppConfig):
    name = "stats"
    verbose_name = "Stats"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings

        from .recorder import recorder
        from .sharing import sharing

        recorder.log_requests = settings.LLMSIM_LOG_REQUESTS
        sharing.configure(
            settings.REDIS_URL,
            settings.LLMSIM_REDIS_PREFIX,
            settings.LLMSIM_STATS_DIR,
            settings.LLMSIM_STATS_PUBLISH_SECONDS,
        )
