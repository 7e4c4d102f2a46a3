"""Read scenario data from YAML (an llmsim_export file, or the seed's mocks): `manage.py llmsim_import FILE`;
or make a replay scenario from recorded cassettes: `manage.py llmsim_import --cassettes DIR --scenario NAME`."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from simulator import portability
from simulator.management.database import scenario_tables
from simulator.recording.cassettes import CassetteError
from simulator.recording.matching import STRICTNESS
from simulator.recording.replay import UNMATCHED
from simulator.state.recordings import import_cassettes


class Command(BaseCommand):
    help = (
        "Update or create the model profiles, error profiles, scenarios, rules and settings a YAML "
        "(or JSON) file lists, in one transaction. The seed's `mocks:` list is accepted too. With --cassettes, "
        "make a replay scenario from the recorder's cassettes instead (docs/recording.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", nargs="?", help="The file to read; - reads standard input.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Make each section the file has exactly what it lists: delete the rows it does not list, "
            "and reset the fields it leaves out to their defaults.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and report, then change nothing.")
        parser.add_argument("--database", default="default", help="Database alias to write (default: default).")
        replay = parser.add_argument_group("replay scenarios (instead of FILE)")
        replay.add_argument("--cassettes", metavar="DIR", help="Make a replay scenario of the cassettes in DIR.")
        replay.add_argument("--scenario", metavar="NAME", help="Its name (made, or remade with these recordings).")
        replay.add_argument(
            "--match",
            choices=STRICTNESS,
            default="messages",
            help="What must equal a recording's: the whole body, the conversation (default), the last user message.",
        )
        replay.add_argument(
            "--speed", type=float, default=1.0, help="Recorded timing divided by this (0: as fast as possible)."
        )
        replay.add_argument(
            "--unmatched",
            choices=UNMATCHED,
            default="generate",
            help="A request no recording matches: answered as the model would (default), or an error.",
        )
        replay.add_argument(
            "--redact",
            nargs="+",
            action="extend",
            default=[],
            metavar="REGEX",
            help="The recorder's --redact patterns (requests are masked the same way before matching).",
        )

    def handle(self, *args, file: str | None, replace: bool, dry_run: bool, database: str, **options) -> None:
        if options["cassettes"]:
            self.import_cassettes(database=database, **options)
            return
        if file is None:
            raise CommandError("give the FILE to import, or --cassettes DIR --scenario NAME")
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

    def import_cassettes(self, cassettes: str, scenario: str | None, database: str, **options) -> None:
        if not scenario or slugify(scenario) != scenario:
            raise CommandError("--scenario NAME is needed with --cassettes: letters, digits, - and _ only")
        if options["speed"] < 0:
            raise CommandError("--speed must be 0 or more")
        try:
            with scenario_tables(database):
                result = import_cassettes(
                    Path(cassettes),
                    scenario,
                    match=options["match"],
                    speed=options["speed"],
                    unmatched=options["unmatched"],
                    redact=tuple(options["redact"]),
                    using=database,
                )
        except (CassetteError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{cassettes}: {result.describe()}")
        self.stdout.write(f"Send x-llmsim-scenario: {scenario} (or make it the default scenario) to replay them.")
