"""This process's startup configuration, layered over the stored settings, and shown in the admin.

What the configuration sets (simulator/config.py: `serve` flags, LLMSIM_* variables, the
file's latency/response/errors/models/tools sections and its `settings` section)
belongs to the server process that read it. Each snapshot the process builds
(simulator/state/snapshots.py) reads the SimulatorSettings row and `layer()` sets the
overrides on that copy in memory, which is never saved: servers sharing the database
keep the stored settings, an admin edit of a setting the process does not override
still reaches it, and nothing the process sets outlives it. As when they were written
to the database, `latency.profile` names a profile, custom latency values make an
unlisted profile "custom" and `errors.*` an error profile "config" (the values they
leave out are the admin's defaults) — now only in this process's snapshot.

The file's scenario data (`model_profiles`, `error_profiles`, `scenarios`, `mocks`) is
data: `import_file_data()` imports it, as llmsim_import does, but leaves the settings
row alone; the scenario the mocks land in is this process's default scenario when the
stored settings name none.

So that the admin can show what running servers override, each process with overrides
keeps a ProcessOverrides row (in the database every server shares) with an expiry,
refreshed every REFRESH_SECONDS and deleted when the process or its `serve` exits; a
process killed outright leaves a row that expires after TTL_SECONDS. Every worker of one
`serve` has the same overrides: `serve` hands them on as LLMSIM_* variables
(config.to_environ), and its name as LLMSIM_SERVER_NAME.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing.util
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from simulator.config import CUSTOM_LATENCY, Config, ConfigError, as_text, find_profile, resolve
from simulator.models import ErrorProfile, ModelProfile, ProcessOverrides, SimulatorSettings

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0
TTL_SECONDS = 30

# Keys → the SimulatorSettings fields they set as they are.
SETTINGS_FIELDS = {
    "response.generator": "generator",
    "response.fixed_text": "fixed_text",
    "response.target_tokens": "target_tokens",
    "response.seed": "seed",
    "models.strict": "strict_models",
    "models.enforce_rate_limits": "enforce_model_rate_limits",
    "tools.call_rate": "tool_call_rate",
    "tools.rounds": "tool_call_rounds",
    "tools.parallel_calls": "parallel_tool_calls",
}
CUSTOM_PROFILE_ID = "custom"
ERROR_PROFILE_NAME = "config"


@dataclass(frozen=True)
class Overrides:
    """What this process sets over the stored settings."""

    config: Config = field(default_factory=Config)
    settings: dict[str, Any] = field(default_factory=dict)  # the file's settings section, checked at start
    default_scenario: str = ""  # the scenario the file's mocks land in
    source: str = ""  # the file, for the listing

    def __bool__(self) -> bool:
        return bool(self.config.override_keys() or self.settings or self.default_scenario)

    def listing(self) -> list[dict[str, str]]:
        """Each override as the admin and /health show it: setting, value and source."""
        rows = [
            {"setting": f"settings.{name}", "value": _text(value), "source": f"file {self.source}: settings.{name}"}
            for name, value in self.settings.items()
        ]
        if self.default_scenario:
            rows.append(
                {
                    "setting": "settings.default_scenario",
                    "value": f"{self.default_scenario} (when the stored settings name none)",
                    "source": f"file {self.source}: mocks",
                }
            )
        for key in self.config.override_keys():
            rows.append(
                {"setting": key, "value": as_text(key, self.config.get(key)), "source": self.config.source(key)}
            )
        return rows


NO_OVERRIDES = Overrides()
_mine = NO_OVERRIDES
_mine_by_setting: dict[str, str] = {}  # for /health, made once


def _text(value: Any) -> str:
    """A value of the file's settings section, as YAML would write it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- at startup ----------------------------------------------------------------------


def load() -> Overrides:
    """This process's configuration (LLMSIM_CONFIG and the LLMSIM_* variables), checked, with
    the file's scenario data imported; ImproperlyConfigured naming the place when it is bad.

    Called once per server process before it serves, and by `serve` before it starts them.
    """
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    try:
        config = resolve(settings.LLMSIM_CONFIG or None, os.environ)
        if not config.override_keys() and not config.data:
            return Overrides(config)
        if SimulatorSettings._meta.db_table not in connections["default"].introspection.table_names():
            logger.warning("configuration not loaded: the database is not migrated (run manage.py migrate)")
            return NO_OVERRIDES
        overrides = import_file_data(config)
        if "latency.profile" in config:
            find_profile(config)
    except ConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    logger.info("configuration loaded (file: %s): %s", settings.LLMSIM_CONFIG or "none", config.describe())
    return overrides


def import_file_data(config: Config, using: str = "default") -> Overrides:
    """Import the file's scenario data (not its settings) and check its settings section
    as an import would; ConfigError naming the place when either is wrong."""
    from simulator.portability import PortabilityError, import_data

    data = {section: body for section, body in config.data.items() if section != "settings"}
    settings_section = config.data.get("settings") or {}
    try:
        result = import_data(data, config.data_source, using=using, settings=False) if data else None
        if settings_section:  # resolved again at every snapshot, as the profiles it names may change
            import_data({"settings": settings_section}, config.data_source, dry_run=True, using=using)
    except PortabilityError as exc:
        raise ConfigError(str(exc)) from exc
    mocks_scenario = result.mocks_scenario if result else None
    return Overrides(
        config=config,
        settings=dict(settings_section),
        # As llmsim_import does: the mocks answer every request unless a default is chosen.
        default_scenario="" if "default_scenario" in settings_section else mocks_scenario or "",
        source=config.data_source,
    )


def start(overrides: Overrides) -> None:
    """Make `overrides` this process's (for snapshots and /health) and publish them while it runs."""
    global _mine, _mine_by_setting
    listing = overrides.listing()
    _mine, _mine_by_setting = overrides, {row["setting"]: row["value"] for row in listing}
    if not overrides:
        return
    process = f"{socket.gethostname()} pid {os.getpid()}"
    server = settings.LLMSIM_SERVER_NAME or process
    logger.info("this process overrides the stored settings: %s", _summary(listing))
    _publish(server, process, listing)
    # multiprocessing's finalizers run when the process ends normally: from atexit in a main
    # process, and also in granian's worker processes, which skip atexit. (uvicorn's workers
    # end by their signal: `serve` withdraws their rows when they have stopped.)
    multiprocessing.util.Finalize(None, _withdraw, kwargs={"process": process}, exitpriority=10)
    threading.Thread(
        target=_keep_publishing, args=(server, process, listing), name="llmsim-overrides", daemon=True
    ).start()


def mine() -> Overrides:
    """This process's overrides (never blocks)."""
    return _mine


def current() -> dict[str, str]:
    """This process's overrides, setting → value (for /health; never blocks)."""
    return _mine_by_setting


def _summary(listing: list[dict[str, str]]) -> str:
    return ", ".join(f"{row['setting']}={row['value']} ({row['source']})" for row in listing)


# --- layering over the stored settings (every snapshot build) ----------------------------------


def layer(row: SimulatorSettings, overrides: Overrides, using: str = "default") -> SimulatorSettings:
    """`row`, as read from the database, with the overrides set on it; it must not be saved."""
    if not overrides:
        return row
    for name, value in overrides.settings.items():
        _set_field(row, name, value, using)
    if overrides.default_scenario and not row.default_scenario_id:
        _set_field(row, "default_scenario", overrides.default_scenario, using)
    config = overrides.config
    for key, field_name in SETTINGS_FIELDS.items():
        if key in config:
            setattr(row, field_name, config.get(key))
    if "latency.profile" in config:
        try:
            profile = find_profile(config, using)
        except ConfigError as exc:  # deleted in the admin since the process started
            logger.warning("%s; the stored latency profile applies", exc)
        else:
            row.latency_profile = profile or row.latency_profile
    elif any(key in config for key in CUSTOM_LATENCY):
        row.latency_profile = ModelProfile(
            model_id=CUSTOM_PROFILE_ID,
            provider=ModelProfile.Provider.OTHER,
            owned_by="llmsim",
            listed=False,
            **{key.split(".")[1]: config.get(key) for key in CUSTOM_LATENCY if key in config},
        )
    errors = {key.split(".")[1]: value for key, value in config.values.items() if key.startswith("errors.")}
    if errors:
        row.error_profile = ErrorProfile(name=ERROR_PROFILE_NAME, **errors)
    return row


def _set_field(row: SimulatorSettings, name: str, value: Any, using: str) -> None:
    """Set one field of the file's settings section; a reference is looked up by its natural key."""
    from simulator.portability import NATURAL_KEYS

    model_field = SimulatorSettings._meta.get_field(name)
    if model_field.is_relation and value is not None:
        model = model_field.related_model
        found = model.objects.using(using).filter(**{NATURAL_KEYS[model]: value}).first()
        if found is None:
            logger.warning("settings.%s: %r no longer exists; the stored value applies", name, value)
            return
        value = found
    setattr(row, name, value)


# --- published for the admin ---------------------------------------------------------------


def server_name(command: str, host: str, port: int | str) -> str:
    """How the admin names a server: "vm, 127.0.0.1:8000 (serve, pid 1234)"."""
    return f"{socket.gethostname()}, {host}:{port} ({command}, pid {os.getpid()})"


def _publish(server: str, process: str, listing: list[dict[str, str]]) -> None:
    now = timezone.now()
    try:
        close_old_connections()
        ProcessOverrides.objects.update_or_create(
            process=process,
            defaults={"server": server, "overrides": listing, "expires": now + timedelta(seconds=TTL_SECONDS)},
        )
        ProcessOverrides.objects.filter(expires__lte=now).delete()
    except DatabaseError as exc:  # a busy or unmigrated database: the admin misses them until next time
        logger.warning("could not publish this process's overrides for the admin: %s", exc)
    finally:
        close_old_connections()


def _keep_publishing(server: str, process: str, listing: list[dict[str, str]]) -> None:
    while True:
        time.sleep(REFRESH_SECONDS)
        _publish(server, process, listing)


def _withdraw(**which: str) -> None:
    """Delete the rows of a process or server that stops (it is exiting: a row left over expires)."""
    with contextlib.suppress(Exception):
        close_old_connections()  # a connection idle since the start may have been dropped
        ProcessOverrides.objects.filter(**which).delete()


def withdraw_server(server: str) -> None:
    """Forget the overrides of `server`'s processes, which have stopped (`serve` calls it when they have)."""
    _withdraw(server=server)


@dataclass(frozen=True)
class RunningServer:
    """A running server's processes (the workers of one `serve`) and what they override."""

    name: str
    processes: int
    overrides: tuple[dict[str, str], ...]


def running(using: str = "default") -> list[RunningServer]:
    """The overrides of the servers running now; for the admin (queries)."""
    servers: dict[str, list[ProcessOverrides]] = {}
    for row in ProcessOverrides.objects.using(using).filter(expires__gt=timezone.now()).order_by("server", "process"):
        servers.setdefault(row.server, []).append(row)
    # The processes of one server have the same configuration (`serve` hands it to each).
    return [RunningServer(name, len(rows), tuple(rows[0].overrides)) for name, rows in servers.items()]
