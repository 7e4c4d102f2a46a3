"""The startup configuration: a YAML file, LLMSIM_* environment variables and `serve` flags.

The three sources are resolved into one flat `Config` (file < environment < flags) by
pure functions over dicts, with no Django import, so they are unit-tested in
milliseconds. What the configuration sets belongs to the server process that read it:
each process layers it over the stored (admin-managed) settings in its own in-memory
snapshot (simulator/process_overrides.py) and writes none of it to the database, so it
changes no other server sharing the database and ends with the process.

    server:   {host: 127.0.0.1, port: 8000}
    latency:  {profile: gpt-4o}   # or ttft_mean_ms, ttft_stddev_ms, tbt_mean_ms, tbt_stddev_ms
    response: {generator: lorem, target_tokens: 100, fixed_text: "...", seed: 42}
    errors:   {rate_limit_rate: 0, server_error_rate: 0, service_unavailable_rate: 0,
               timeout_rate: 0, timeout_after_ms: 30000, timeout_action: 504, retry_after_ms: 1000}
    models:   {strict: false, enforce_rate_limits: false}
    tools:    {call_rate: 1.0, rounds: 1, parallel_calls: 1}

The file may also carry scenario data in `llmsim_export`'s format (simulator/portability.py):
`model_profiles`, `error_profiles`, `scenarios` and the seed's `mocks` are data, imported
(update or create, never delete) when a server starts; its `settings` section, like the
sections above, overrides the stored settings in the process only.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from simulator.engine.generators import GENERATORS

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration value is missing, malformed or out of range; the message says where."""


@dataclass(frozen=True)
class Option:
    key: str  # "section.name", as written in the YAML file
    kind: type  # str, int, float or bool
    env: str
    minimum: float | None = None
    maximum: float | None = None


_MAX_MS = 2**31 - 1  # the database columns are 32-bit integers
_SEED_RANGE = (-(2**63), 2**63 - 1)

OPTIONS: tuple[Option, ...] = (
    Option("server.host", str, "LLMSIM_HOST"),
    Option("server.port", int, "LLMSIM_PORT", 1, 65535),
    Option("latency.profile", str, "LLMSIM_LATENCY_PROFILE"),
    Option("latency.ttft_mean_ms", float, "LLMSIM_TTFT_MEAN_MS", 0),
    Option("latency.ttft_stddev_ms", float, "LLMSIM_TTFT_STDDEV_MS", 0),
    Option("latency.tbt_mean_ms", float, "LLMSIM_TBT_MEAN_MS", 0),
    Option("latency.tbt_stddev_ms", float, "LLMSIM_TBT_STDDEV_MS", 0),
    Option("response.generator", str, "LLMSIM_GENERATOR"),
    Option("response.target_tokens", int, "LLMSIM_TARGET_TOKENS", 1, 1_000_000),
    Option("response.fixed_text", str, "LLMSIM_FIXED_TEXT"),
    Option("response.seed", int, "LLMSIM_SEED", *_SEED_RANGE),
    Option("errors.rate_limit_rate", float, "LLMSIM_RATE_LIMIT_RATE", 0, 1),
    Option("errors.server_error_rate", float, "LLMSIM_SERVER_ERROR_RATE", 0, 1),
    Option("errors.service_unavailable_rate", float, "LLMSIM_SERVICE_UNAVAILABLE_RATE", 0, 1),
    Option("errors.timeout_rate", float, "LLMSIM_TIMEOUT_RATE", 0, 1),
    Option("errors.timeout_after_ms", int, "LLMSIM_TIMEOUT_AFTER_MS", 0, _MAX_MS),
    Option("errors.timeout_action", str, "LLMSIM_TIMEOUT_ACTION"),
    Option("errors.retry_after_ms", int, "LLMSIM_RETRY_AFTER_MS", 0, _MAX_MS),
    Option("models.strict", bool, "LLMSIM_STRICT_MODELS"),
    Option("models.enforce_rate_limits", bool, "LLMSIM_ENFORCE_MODEL_RATE_LIMITS"),
    Option("tools.call_rate", float, "LLMSIM_TOOL_CALL_RATE", 0, 1),
    Option("tools.rounds", int, "LLMSIM_TOOL_CALL_ROUNDS", 0, 100),
    Option("tools.parallel_calls", int, "LLMSIM_PARALLEL_TOOL_CALLS", 1, 128),
)
BY_KEY = {option.key: option for option in OPTIONS}
ENV_NAMES = frozenset(option.env for option in OPTIONS)
SECTIONS = tuple(dict.fromkeys(option.key.split(".")[0] for option in OPTIONS))
# Scenario data sections, imported by simulator.portability (its SECTIONS; not imported
# here, so that this module stays free of Django).
DATA_SECTIONS = ("model_profiles", "error_profiles", "scenarios", "settings", "mocks")

# Set by `serve` for its workers: where each value they get as a variable came from (JSON).
SOURCES_ENV = "LLMSIM_CONFIG_SOURCES"

# `serve` flags (argparse dest) → key.
FLAGS = {
    "host": "server.host",
    "port": "server.port",
    "generator": "response.generator",
    "target_tokens": "response.target_tokens",
    "latency_profile": "latency.profile",
    "strict_models": "models.strict",
}

CUSTOM_LATENCY = ("latency.ttft_mean_ms", "latency.ttft_stddev_ms", "latency.tbt_mean_ms", "latency.tbt_stddev_ms")
RATES = ("errors.rate_limit_rate", "errors.server_error_rate", "errors.service_unavailable_rate", "errors.timeout_rate")

# The seed project's names for its latency profiles, mapped to our presets.
PROFILE_SHORTHANDS = {
    "gpt4": "gpt-4",
    "gpt4o": "gpt-4o",
    "gpt5": "gpt-5",
    "gpt5-mini": "gpt-5-mini",
    "o-series": "o3",
    "o3": "o3",
    "o4": "o3",
    "claude-opus": "claude-opus-4-1",
    "opus": "claude-opus-4-1",
    "claude-sonnet": "claude-sonnet-4-5",
    "sonnet": "claude-sonnet-4-5",
    "claude-haiku": "claude-haiku-4-5",
    "haiku": "claude-haiku-4-5",
    "gemini": "gemini-2.5-pro",
    "gemini-pro": "gemini-2.5-pro",
    "instant": "instant",
}

TIMEOUT_ACTIONS = {"504": "status_504", "status_504": "status_504", "disconnect": "disconnect"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Config:
    """Resolved settings keyed "section.name"; only what some source set is present."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # key → where it was set, for messages
    data: dict[str, Any] = field(default_factory=dict)  # the file's scenario data sections, as read
    data_source: str = ""  # the file they came from

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def where(self, key: str) -> str:
        return self.sources.get(key, key)

    def override_keys(self) -> list[str]:
        """The keys that override the stored settings in this process (all but server.*)."""
        return [key for key in self.values if not key.startswith("server.")]

    def source(self, key: str) -> str:
        """Where `key` was set, with its kind: "flag --generator", "environment LLMSIM_GENERATOR",
        "file llmsim.yaml: response.generator"."""
        where = self.where(key)
        if where.startswith("--"):
            return f"flag {where}"
        if where in ENV_NAMES:
            return f"environment {where}"
        return f"file {where}"

    def describe(self) -> str:
        """One line for the console, e.g. "response.generator=echo, latency.profile=instant, scenarios (2)"."""
        data = [f"{section} ({len(body) if isinstance(body, list) else 1})" for section, body in self.data.items()]
        return ", ".join([*(f"{key}={self.values[key]!r}" for key in self.override_keys()), *data]) or "nothing"


# --- reading the sources ---------------------------------------------------------


def load_file(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML configuration file."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the configuration file: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {exc}") from exc
    return parse_document(document, name)


def parse_document(document: Any, name: str) -> Config:
    """Validate the parsed YAML document of the file called `name`."""
    if document is None:
        return Config()
    known_sections = ", ".join((*SECTIONS, *DATA_SECTIONS))
    if not isinstance(document, dict):
        raise ConfigError(f"{name}: the top level must be a mapping of sections ({known_sections})")
    raw: dict[str, Any] = {}
    wheres: dict[str, str] = {}
    data: dict[str, Any] = {}
    for section, body in document.items():
        if section in DATA_SECTIONS:
            if body is not None:
                data[section] = body  # checked when imported (process_overrides.import_file_data), with the place named
            continue
        if section not in SECTIONS:
            raise ConfigError(f"{name}: unknown section {section!r}; known sections: {known_sections}")
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{name}: {section} must be a mapping, got {_type_name(body)}")
        for key, value in body.items():
            dotted = f"{section}.{key}"
            if dotted not in BY_KEY:
                known = ", ".join(key.split(".")[1] for key in BY_KEY if key.startswith(section + "."))
                raise ConfigError(f"{name}: unknown key {dotted!r}; known keys in {section}: {known}")
            raw[dotted] = value
            wheres[dotted] = f"{name}: {dotted}"
    config = _layer(raw, wheres, text=False, latency_where=f"{name}: latency")
    return replace(config, data=data, data_source=name) if data else config


def from_environ(environ: Mapping[str, str] | None = None) -> Config:
    """Read the LLMSIM_* variables (the one place that maps them to settings); empty means unset."""
    environ = os.environ if environ is None else environ
    raw = {option.key: environ[option.env] for option in OPTIONS if environ.get(option.env, "") != ""}
    wheres = {key: BY_KEY[key].env for key in raw}
    wheres |= {key: where for key, where in _recorded_sources(environ).items() if key in raw}
    return _layer(raw, wheres, text=True, latency_where="LLMSIM_LATENCY_PROFILE and LLMSIM_T*_MS")


def _recorded_sources(environ: Mapping[str, str]) -> dict[str, str]:
    """Where `serve` read the values it hands its workers as variables (SOURCES_ENV), so that
    their messages and the admin name the flag or file rather than the variable."""
    try:
        recorded = json.loads(environ.get(SOURCES_ENV) or "{}")
    except ValueError:
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {key: where for key, where in recorded.items() if key in BY_KEY and isinstance(where, str)}


def from_flags(options: Mapping[str, Any]) -> Config:
    """Read `serve` flags (argparse dests, see FLAGS); None or False means not given."""
    given = {dest: key for dest, key in FLAGS.items() if options.get(dest) not in (None, False)}
    raw = {key: options[dest] for dest, key in given.items()}
    wheres = {key: "--" + dest.replace("_", "-") for dest, key in given.items()}
    return _layer(raw, wheres, text=True, latency_where="--latency-profile")


def to_environ(config: Config) -> dict[str, str]:
    """The LLMSIM_* variables that make `from_environ` read `config` back, sources included."""
    out = {BY_KEY[key].env: as_text(key, value) for key, value in config.values.items()}
    out[SOURCES_ENV] = json.dumps(config.sources)
    return out


def as_text(key: str, value: Any) -> str:
    """A value as its variable (and the admin) writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "errors.timeout_action":
        return "504" if value == "status_504" else value
    return str(value)


def merge(*layers: Config) -> Config:
    """Later layers win. Latency is one choice: a profile replaces custom values and vice versa."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    data: dict[str, Any] = {}
    data_source = ""
    for layer in layers:
        if layer.data:  # only the file has scenario data
            data, data_source = layer.data, layer.data_source
        if "latency.profile" in layer:
            for key in CUSTOM_LATENCY:
                values.pop(key, None)
        elif any(key in layer for key in CUSTOM_LATENCY):
            values.pop("latency.profile", None)
        values.update(layer.values)
        sources.update(layer.sources)
    return Config(values, {key: sources[key] for key in values}, data, data_source)


def check(config: Config) -> Config:
    """Checks across keys that only the merged result can make."""
    rates = [key for key in RATES if key in config]
    total = sum(config.values[key] for key in rates)
    if total > 1 + 1e-9:
        wheres = ", ".join(config.where(key) for key in rates)
        raise ConfigError(f"{wheres}: the error rates add up to {total:g}; together they cannot exceed 1")
    return config


def resolve(
    path: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """File < environment < flags, validated."""
    file_layer = load_file(path) if path else Config()
    return check(merge(file_layer, from_environ(environ), from_flags(flags or {})))


# --- validation of one source --------------------------------------------------------


def _layer(raw: dict[str, Any], wheres: dict[str, str], text: bool, latency_where: str) -> Config:
    values: dict[str, Any] = {}
    for key, value in raw.items():
        values[key] = _convert(BY_KEY[key], value, wheres[key], text)
    if "latency.profile" in values and any(key in values for key in CUSTOM_LATENCY):
        raise ConfigError(
            f"{latency_where}: give either a profile or custom values "
            f"({', '.join(key.split('.')[1] for key in CUSTOM_LATENCY)}), not both"
        )
    generator = values.get("response.generator")
    if generator and generator.startswith("fixed:"):
        if "response.fixed_text" in values:
            raise ConfigError(
                f"{wheres['response.generator']}: 'fixed:<text>' and response.fixed_text both set the text; use one"
            )
        values["response.generator"], values["response.fixed_text"] = "fixed", generator[len("fixed:") :]
        wheres["response.fixed_text"] = wheres["response.generator"]
    return Config(values, {key: wheres[key] for key in values})


def _convert(option: Option, value: Any, where: str, text: bool) -> Any:
    if option.key == "errors.timeout_action":
        action = TIMEOUT_ACTIONS.get(str(value).strip().lower())
        if action is None:
            raise ConfigError(f"{where}: must be 504 or disconnect, got {value!r}")
        return action
    if text and isinstance(value, str):
        value = _parse_text(option, value, where)
    value = _typed(option, value, where)
    if option.key == "response.generator":
        return _generator(value, where)
    if option.key == "latency.profile":
        return _profile_name(value, where)
    if option.kind in (int, float) and not _in_range(option, value):
        raise ConfigError(f"{where}: must be {_range_text(option)}, got {value!r}")
    return value


def _parse_text(option: Option, value: str, where: str) -> Any:
    """Environment variables and flags arrive as text."""
    stripped = value.strip()
    try:
        if option.kind is int:
            return int(stripped)
        if option.kind is float:
            return float(stripped)
    except ValueError:
        raise ConfigError(f"{where}: must be {_kind_name(option.kind)}, got {value!r}") from None
    if option.kind is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ConfigError(f"{where}: must be true or false, got {value!r}")
    return value


def _typed(option: Option, value: Any, where: str) -> Any:
    kind = option.kind
    if isinstance(value, bool) and kind is not bool:  # YAML's true is an int to Python
        ok = False
    elif kind is float:
        ok = isinstance(value, int | float)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"{where}: must be {_kind_name(kind)}, got {_type_name(value)} {value!r}")
    return float(value) if kind is float else value


def _in_range(option: Option, value: float) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if option.minimum is not None and value < option.minimum:
        return False
    return option.maximum is None or value <= option.maximum


def _range_text(option: Option) -> str:
    if option.key == "response.seed":
        return "a 64-bit signed integer"
    if option.maximum is None:
        return f"a number ≥ {option.minimum:g}"
    return f"between {option.minimum:g} and {option.maximum:g}"


def _generator(value: str, where: str) -> str:
    value = value.strip()
    name, colon, text = value.partition(":")
    name = name.strip().lower()
    if name == "fixed" and colon:
        if not text.strip():
            raise ConfigError(f"{where}: 'fixed:' needs the text to answer with, e.g. 'fixed:Hello'")
        return "fixed:" + text.strip()
    if colon or name not in GENERATORS:
        raise ConfigError(f"{where}: unknown generator {value!r}; use one of {', '.join(GENERATORS)} or 'fixed:<text>'")
    return name


def _profile_name(value: str, where: str) -> str:
    name = value.strip()
    if not name:
        raise ConfigError(f"{where}: must name a model profile, e.g. gpt-4o")
    return PROFILE_SHORTHANDS.get(name.lower(), name)


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[kind]


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "null"}.get(type(value), type(value).__name__)


# --- the one part that needs Django ------------------------------------------------------


def find_profile(config: Config, using: str = "default") -> Any:
    """The ModelProfile latency.profile names; ConfigError, listing the known ones, when none does."""
    from simulator.models import ModelProfile

    name = config.get("latency.profile")
    profiles = ModelProfile.objects.using(using)
    found = profiles.filter(model_id=name).first() or profiles.filter(model_id__iexact=name).first()
    if found is None and _defines_profile(config, name):
        return None  # the file's model_profiles create it when the server starts
    if found is None:
        known = ", ".join(profiles.values_list("model_id", flat=True))
        raise ConfigError(
            f"{config.where('latency.profile')}: unknown profile {name!r}; known profiles: {known} "
            f"(shorthands: {', '.join(PROFILE_SHORTHANDS)})"
        )
    return found


def _defines_profile(config: Config, name: str) -> bool:
    profiles = config.data.get("model_profiles")
    return isinstance(profiles, list) and any(isinstance(p, dict) and p.get("model_id") == name for p in profiles)
