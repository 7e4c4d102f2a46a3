"""Read scenario data from YAML (an llmsim_export file, or the seed's mocks): `manage.py llmsim_import FILE`."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from simulator import portability
from simulator.management.database import scenario_tables


class Command(BaseCommand):
    help = (
        "Update or create the model profiles, error profiles, scenarios, rules and settings a YAML "
        "(or JSON) file lists, in one transaction. The seed's `mocks:` list is accepted too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", help="The file to read; - reads standard input.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Make each section the file has exactly what it lists: delete the rows it does not list, "
            "and reset the fields it leaves out to their defaults.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and report, then change nothing.")
        parser.add_argument("--database", default="default", help="Database alias to write (default: default).")

    def handle(self, *args, file: str, replace: bool, dry_run: bool, database: str, **options) -> None:
        name = "<stdin>" if file == "-" else file
        try:
            if file == "-":
                text = sys.stdin.read()
            else:
                with open(file, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as exc:
            raise CommandError(f"{name}: cannot read the file: {exc.strerror or exc}") from None
        try:
            with scenario_tables(database):
                result = portability.import_data(portability.load(text, name), name, replace, dry_run, database)
        except portability.PortabilityError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{name}: {result.describe()}{' (dry run: nothing saved)' if dry_run else ''}")
