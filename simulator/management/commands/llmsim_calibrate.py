"""Fit model profiles to recorded streams: `manage.py llmsim_calibrate --cassettes DIR [--model M] [--dry-run]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from simulator.management.database import scenario_tables
from simulator.models import ModelProfile
from simulator.recording.calibrate import Fit, fit_directory, format_fits
from simulator.recording.cassettes import CassetteError

# The fields a fit sets; every other field of a profile is left as it was (or its default).
FITTED_FIELDS = ("ttft_mean_ms", "ttft_stddev_ms", "tbt_mean_ms", "tbt_stddev_ms", "prefill_ms_per_1k_tokens")

# Cassettes name the wire format; model profiles name the vendor.
PROFILE_PROVIDER = {
    "openai": ModelProfile.Provider.OPENAI,
    "anthropic": ModelProfile.Provider.ANTHROPIC,
    "gemini": ModelProfile.Provider.GOOGLE,
}


class Command(BaseCommand):
    help = (
        "Fit each recorded model's time to first token (mean, spread, prefill per 1k prompt tokens) and time "
        "between tokens (mean, spread) to the streams in a cassette directory, print the fit with p50/p99, and "
        "update or create the model profiles in one transaction (running servers pick the change up)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cassettes", required=True, help="The directory the recorder wrote.")
        parser.add_argument("--model", help="Fit only this model (as the requests named it).")
        parser.add_argument("--dry-run", action="store_true", help="Print the fit, change nothing.")
        parser.add_argument("--database", default="default", help="Database alias to write (default: default).")

    def handle(self, *args, cassettes: str, model: str | None, dry_run: bool, database: str, **options) -> None:
        try:
            fits = fit_directory(Path(cassettes), model)
        except CassetteError as exc:
            raise CommandError(str(exc)) from None
        if not fits:
            which = f"model {model!r}" if model else "any model"
            raise CommandError(
                f"{cassettes}: no recorded streams for {which} (calibration needs streamed, complete, "
                "status-200 answers with at least one chunk of generated text)"
            )
        self.stdout.write(format_fits(fits), ending="")
        if dry_run:
            self.stdout.write("dry run: no model profile changed")
            return
        with scenario_tables(database), transaction.atomic(using=database):
            for one in fits:
                self.stdout.write(self._save(one, database))

    def _save(self, fit: Fit, database: str) -> str:
        profile = ModelProfile.objects.using(database).filter(model_id=fit.model).first()
        created = profile is None
        if created:
            profile = ModelProfile(model_id=fit.model, provider=PROFILE_PROVIDER[fit.provider])
        changes = []
        for name in FITTED_FIELDS:
            new = round(getattr(fit, name), 1)
            old = getattr(profile, name)
            if old != new:
                changes.append(f"{name} {old:g} → {new:g}")
            setattr(profile, name, new)
        if not created and not changes:
            return f"{fit.model}: unchanged"
        # Saving through the ORM fires post_save, which bumps the snapshot version servers poll.
        profile.save(using=database)
        return f"{fit.model}: {'created (from the defaults)' if created else 'updated'}: {', '.join(changes)}"
