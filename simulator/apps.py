from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "simulator"
    verbose_name = "Simulator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from simulator import checks, signals  # noqa: F401  (register the deploy checks; connect the snapshot-version receivers)
