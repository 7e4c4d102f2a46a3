"""Write the scenario data as YAML (or JSON): `manage.py llmsim_export > scenarios.yaml`."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from simulator import portability
from simulator.management.database import scenario_tables


class Command(BaseCommand):
    help = (
        "Print every model profile, error profile, scenario (with its rules) and the simulator "
        "settings as YAML; llmsim_import reads it back."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="Output format (default yaml).")
        parser.add_argument("--database", default="default", help="Database alias to read (default: default).")

    def handle(self, *args, format: str, database: str, **options) -> None:
        with scenario_tables(database):
            data = portability.export_data(database)
        self.stdout.write(portability.dump(data, format), ending="")
