"""Every edit of scenario data bumps SnapshotVersion, which server processes poll."""

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from simulator.models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings, SnapshotVersion

WATCHED = (ModelProfile, ErrorProfile, SimulatorSettings, Scenario, ResponseRule)


def bump_version(using: str = "default") -> None:
    updated = SnapshotVersion.objects.using(using).filter(pk=1).update(version=F("version") + 1)
    if not updated:
        SnapshotVersion.objects.using(using).get_or_create(pk=1, defaults={"version": 1})


@receiver(post_save)
@receiver(post_delete)
def scenario_changed(sender, using="default", raw=False, **kwargs) -> None:
    if sender in WATCHED and not raw:
        bump_version(using)
