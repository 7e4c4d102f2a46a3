"""Scenario data as YAML: export all of it, import it back, and the seed project's mock format.

`manage.py llmsim_export` / `llmsim_import`, the startup configuration file and the
management API's export/import all go through `export_data()` and `import_data()`.

    model_profiles:                       # natural key: model_id
      - {model_id: my-model, provider: other, ttft_mean_ms: 50, tbt_mean_ms: 5}
    error_profiles:                       # natural key: name
      - {name: flaky, rate_limit_rate: 0.1, retry_after_ms: 200}
    scenarios:                            # natural key: name
      - name: checkout
        generator: fixed
        fixed_text: Your order is confirmed.
        latency_profile: instant          # a model profile's model_id
        error_profile: flaky              # an error profile's name
        rules:                            # all of the scenario's rules (natural key: name)
          - name: pay-fails-twice
            priority: 10
            match: {last_user: pay, header: "x-test-case: checkout-*"}
            action: {sequence: [{error: 429, times: 2}, {generate: true}]}
    settings: {generator: lorem, default_scenario: checkout}
    mocks:                                # the seed's format: rules of the scenario "mocks"
      - match: weather                    # the last user message contains this
        response: It is sunny.
      - match: {content_contains: weather}
        response: {content: It is sunny., delay_ms: 200}
      - match: {model: "gpt-4*", system_contains: json, pattern: "^order [0-9]+"}
        response: {tool_calls: [{name: lookup_order}]}
        scenario: orders                  # a scenario other than "mocks"
        priority: 5                       # lower first; default: the mock's place in the file

The fields are the admin's (simulator/models.py); a reference to a profile or scenario
is its natural key. A rule's `match` names the matchers without their `match_` prefix
(model, last_user, any_message, system, regex, ignore_case, tools_present,
tool_offered, last_is_tool_result, header, api_key), or is a string: the last user
message contains it. The seed's names are read too (SEED_MATCHERS): `contains` and
`content_contains` are last_user, `pattern`, `content_regex` and `regex: "<pattern>"`
last_user as a regular expression, `system_contains` system. `action` is validated by
`engine.rules.parse_action` (which reads the seed's `content` as `text`); a mock's
`response` is a text or an action, with the seed's `delay_ms` as the time to first token.

Import updates or creates every row the file lists, found by natural key, and sets the
fields the file lists: the others keep their value (a new row gets the admin's
defaults). `match` is one value: the matchers it leaves out match anything. A scenario's
`rules` is the whole list: its rules the list leaves out are deleted; without the key
its rules stay. Rows that do not change are not saved, so importing the same file again
changes nothing (and reloads nothing). With `replace=True` each section the file has
ends up exactly as the file says: rows it does not list are deleted, and fields it
leaves out get their defaults. One transaction: an error anywhere changes nothing.
"""

from __future__ import annotations

import datetime
import json
import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from simulator.engine.rules import RuleError, check_regex, parse_action
from simulator.models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings

SECTIONS = ("model_profiles", "error_profiles", "scenarios", "settings", "mocks")
MOCKS_SCENARIO = "mocks"

# A rule's `match` keys → ResponseRule fields.
MATCHERS = {
    "model": "match_model",
    "last_user": "match_last_user",
    "any_message": "match_any_message",
    "system": "match_system",
    "regex": "regex",
    "ignore_case": "ignore_case",
    "tools_present": "match_tools_present",
    "tool_offered": "match_tool_offered",
    "last_is_tool_result": "match_last_is_tool_result",
    "header": "match_header",
    "api_key": "match_api_key",
}
# The seed's names for matchers → (the matcher they set, whether the value is a regular
# expression, which turns regex on). The seed's `regex: "<pattern>"` (a string, where
# ours is true or false) is read as content_regex.
SEED_MATCHERS = {
    "contains": ("last_user", False),
    "content_contains": ("last_user", False),
    "pattern": ("last_user", True),
    "content_regex": ("last_user", True),
    "system_contains": ("system", False),
}
RULE_KEYS = ("name", "priority", "enabled", "match", "action")
MOCK_KEYS = ("match", "response", "name", "scenario", "priority")

# Which field names each row by, and how the file calls the kind in messages.
NATURAL_KEYS = {ModelProfile: "model_id", ErrorProfile: "name", Scenario: "name"}
KINDS = {
    ModelProfile: "model profile",
    ErrorProfile: "error profile",
    Scenario: "scenario",
    ResponseRule: "rule",
    SimulatorSettings: "settings",
}


class PortabilityError(ValueError):
    """The file cannot be imported; the message names the file and the place in it."""


def _data_fields(model: type[models.Model]) -> dict[str, models.Field]:
    """The fields a file carries for `model`, by name (everything but ids and the rule's scenario)."""
    skip = {"id", "scenario"} | (set(MATCHERS.values()) if model is ResponseRule else set())
    return {f.name: f for f in model._meta.concrete_fields if f.name not in skip}


# --- export ------------------------------------------------------------------------


def export_data(using: str = "default") -> dict[str, Any]:
    """Everything import_data() needs to recreate the scenario data, as plain data."""
    scenarios = Scenario.objects.using(using).select_related("latency_profile", "error_profile")
    settings_row = (
        SimulatorSettings.objects.using(using)
        .select_related("latency_profile", "default_profile", "error_profile", "default_scenario")
        .filter(pk=1)
        .first()
    ) or SimulatorSettings()  # not created by an export: exports do not write
    return {
        "model_profiles": [_row_data(row) for row in ModelProfile.objects.using(using).order_by("model_id")],
        "error_profiles": [_row_data(row) for row in ErrorProfile.objects.using(using).order_by("name")],
        "scenarios": [
            {**_row_data(row), "rules": [_rule_data(rule) for rule in row.rules.all()]}
            for row in scenarios.order_by("name").prefetch_related("rules")
        ],
        "settings": _row_data(settings_row),
    }


def _row_data(row: models.Model) -> dict[str, Any]:
    return {name: _plain(row, f) for name, f in _data_fields(type(row)).items()}


def _rule_data(rule: ResponseRule) -> dict[str, Any]:
    data = {name: _plain(rule, f) for name, f in _data_fields(ResponseRule).items() if name != "action"}
    # Only the matchers that are set: the others match anything.
    data["match"] = {
        key: getattr(rule, name)
        for key, name in MATCHERS.items()
        if getattr(rule, name) != ResponseRule._meta.get_field(name).get_default()
    }
    data["action"] = rule.action
    return data


def _plain(row: models.Model, f: models.Field) -> Any:
    if f.is_relation:
        related = getattr(row, f.name)
        return None if related is None else getattr(related, NATURAL_KEYS[type(related)])
    value = getattr(row, f.attname)
    if isinstance(value, datetime.date):  # a datetime too; as text, which JSON can carry
        return value.isoformat()
    return value


def dump(data: dict[str, Any], fmt: str = "yaml") -> str:
    """The exported data as YAML (default) or JSON text."""
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


def load(text: str | bytes, name: str) -> Any:
    """Parse a YAML (or JSON) document; PortabilityError naming `name` when it is not."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PortabilityError(f"{name}: invalid YAML: {exc}") from exc


# --- import ------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did, by kind ("scenario", "rule", ...)."""

    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    mocks_scenario: str | None = None  # where the file's first mock landed (it becomes the default)

    def as_dict(self) -> dict[str, dict[str, int]]:
        order = {kind: i for i, kind in enumerate(KINDS.values())}
        return {
            what: dict(sorted(getattr(self, what).items(), key=lambda item: order.get(item[0], len(order))))
            for what in ("created", "updated", "unchanged", "deleted")
        }

    def describe(self) -> str:
        """One line, e.g. "created 1 scenario, 3 rules; unchanged 17 model profiles"."""
        parts = []
        for what, counts in self.as_dict().items():
            if counts:
                listed = ", ".join(
                    f"{n} {kind}{'' if n == 1 or kind == 'settings' else 's'}" for kind, n in counts.items()
                )
                parts.append(f"{what} {listed}")
        return "; ".join(parts) or "nothing to import"


def import_data(
    document: Any,
    name: str,
    replace: bool = False,
    dry_run: bool = False,
    using: str = "default",
    settings: bool = True,
) -> ImportResult:
    """Write the parsed file `document` (called `name` in messages) into the database; see the module doc.

    With settings=False the settings row is left alone: the mocks' scenario does not become
    the default (the startup configuration makes it the default of its own process only).
    Raises PortabilityError, naming the file and the place in it, and then changes nothing.
    """
    importer = _Importer(name, replace, using, settings)
    with transaction.atomic(using=using):
        importer.run(document)
        if dry_run:
            transaction.set_rollback(True, using=using)
    return importer.result


@dataclass
class _RuleSpec:
    path: str
    values: dict[str, Any]  # ResponseRule field → value, the ones the file sets


@dataclass
class _ScenarioEntry:
    path: str
    name_path: str  # where the name was written (a mock's scenario key, for mocks)
    fields: dict[str, Any]  # as the file names them, without rules
    rules: list[_RuleSpec] | None  # None: the file does not list them


class _Importer:
    def __init__(self, name: str, replace: bool, using: str, settings: bool = True) -> None:
        self.name = name
        self.replace = replace
        self.using = using
        self.with_settings = settings
        self.result = ImportResult()

    def error(self, path: str, message: str) -> PortabilityError:
        return PortabilityError(f"{self.name}: {path}: {message}" if path else f"{self.name}: {message}")

    def run(self, document: Any) -> None:
        if document is None:
            return
        if not isinstance(document, dict):
            raise self.error("", f"the top level must be a mapping of sections ({', '.join(SECTIONS)})")
        for section in document:
            if section not in SECTIONS:
                raise self.error("", f"unknown section {section!r}; known sections: {', '.join(SECTIONS)}")
        profiles = self.rows(ModelProfile, document, "model_profiles")
        errors = self.rows(ErrorProfile, document, "error_profiles")
        mocks = self.mocks(document.get("mocks"))
        scenarios = self.scenarios(document.get("scenarios"), mocks)
        if self.replace:  # before the settings, which may name only what is left
            if "model_profiles" in document:
                self.delete(ModelProfile.objects.using(self.using).exclude(model_id__in=profiles))
            if "error_profiles" in document:
                self.delete(ErrorProfile.objects.using(self.using).exclude(name__in=errors))
            if "scenarios" in document or "mocks" in document:
                self.delete(Scenario.objects.using(self.using).exclude(name__in=scenarios))
        self.result.mocks_scenario = next(iter(mocks), None)
        if self.with_settings:
            self.settings(document.get("settings"), default_from_mocks=self.result.mocks_scenario)

    # --- sections

    def section_list(self, items: Any, section: str) -> list[Any]:
        if items is None:
            return []
        if not isinstance(items, list):
            raise self.error(section, f"must be a list, got {_type_name(items)}")
        return items

    def rows(self, model: type[models.Model], document: dict[str, Any], section: str) -> list[str]:
        """Update or create each listed profile; returns their natural keys."""
        key_name = NATURAL_KEYS[model]
        seen: dict[str, str] = {}
        for i, data in enumerate(self.section_list(document.get(section), section)):
            path = f"{section}[{i}]"
            key = self.natural_key(data, path, key_name, seen)
            row = model.objects.using(self.using).filter(**{key_name: key}).first()
            self.write(row or model(**{key_name: key}), data, path, created=row is None, skip=(key_name,))
        return list(seen)

    def natural_key(self, data: Any, path: str, key_name: str, seen: dict[str, str]) -> str:
        if not isinstance(data, dict):
            raise self.error(path, f"must be a mapping, got {_type_name(data)}")
        key = data.get(key_name)
        if not isinstance(key, str) or not key:
            raise self.error(f"{path}.{key_name}" if key_name in data else path, f"needs a {key_name} (a string)")
        if key in seen:
            raise self.error(f"{path}.{key_name}", f"{key!r} is listed twice (also at {seen[key]})")
        seen[key] = path
        return key

    def scenarios(self, items: Any, mocks: dict[str, _ScenarioEntry]) -> list[str]:
        seen: dict[str, str] = {}
        entries: dict[str, _ScenarioEntry] = {}
        for i, data in enumerate(self.section_list(items, "scenarios")):
            path = f"scenarios[{i}]"
            name = self.natural_key(data, path, "name", seen)
            rules = self.rule_list(data["rules"] or [], f"{path}.rules") if "rules" in data else None
            fields = {key: value for key, value in data.items() if key != "rules"}
            entries[name] = _ScenarioEntry(path, f"{path}.name", fields, rules)
        for name, from_mocks in mocks.items():
            entry = entries.setdefault(name, from_mocks)
            if entry is not from_mocks:
                entry.rules = [*(entry.rules or []), *from_mocks.rules]
        for name, entry in entries.items():
            row = Scenario.objects.using(self.using).filter(name=name).first()
            created = row is None
            row = self.write(
                row or Scenario(name=name), entry.fields, entry.path, created, skip=("name",), name_path=entry.name_path
            )
            if entry.rules is not None or self.replace:
                self.write_rules(row, entry.rules or [])
        return list(entries)

    def settings(self, data: Any, default_from_mocks: str | None) -> None:
        if data is None and default_from_mocks is None:
            return
        if data is not None and not isinstance(data, dict):
            raise self.error("settings", f"must be a mapping, got {_type_name(data)}")
        replace = self.replace and data is not None  # a file without settings leaves them alone
        data = data or {}
        row = SimulatorSettings.objects.using(self.using).filter(pk=1).first()
        created = row is None
        row = row or SimulatorSettings(pk=1)
        if default_from_mocks and "default_scenario" not in data and (replace or not row.default_scenario_id):
            # The seed's mocks answer every request, as in the seed, unless a default is chosen.
            data = {**data, "default_scenario": default_from_mocks}
        self.write(row, data, "settings", created, replace=replace)

    def mocks(self, items: Any) -> dict[str, _ScenarioEntry]:
        """The seed's mocks as rules of the scenarios they land in (in the order of the file)."""
        groups: dict[str, _ScenarioEntry] = {}
        for i, data in enumerate(self.section_list(items, "mocks")):
            path = f"mocks[{i}]"
            if not isinstance(data, dict):
                raise self.error(path, f"must be a mapping with match and response, got {_type_name(data)}")
            _refuse_unknown(self, data, MOCK_KEYS, path)
            scenario = data.get("scenario", MOCKS_SCENARIO)
            if not isinstance(scenario, str) or not scenario:
                raise self.error(f"{path}.scenario", "must be a scenario name")
            if "response" not in data:
                raise self.error(path, "needs a response (a text, or an action such as {error: 429})")
            name_path = f"{path}.scenario" if "scenario" in data else path
            group = groups.setdefault(scenario, _ScenarioEntry(name_path, name_path, {}, [])).rules
            rule = {
                "name": data.get("name", f"mock-{len(group) + 1}"),
                "priority": data.get("priority", len(group)),  # by default, the order of the file
                "match": data.get("match"),
                "action": self.mock_action(data["response"], f"{path}.response"),
            }
            group.append(self.rule_spec(rule, path, action_path=f"{path}.response"))
        return groups

    def mock_action(self, response: Any, path: str) -> Any:
        """A mock's response as a rule's action: a text, or an action, where the seed's
        `content` is text (parse_action reads it) and its `delay_ms` the time to first token."""
        if isinstance(response, str):
            return {"text": response}
        if not isinstance(response, dict) or "delay_ms" not in response:
            return response  # parse_action checks it, naming the place
        delay = response["delay_ms"]
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not math.isfinite(delay) or delay < 0:
            raise self.error(f"{path}.delay_ms", f"must be a number of milliseconds >= 0, got {delay!r}")
        if "latency" in response:
            raise self.error(path, "delay_ms and latency both set the latency; use one")
        action = {key: value for key, value in response.items() if key != "delay_ms"}
        return {**action, "latency": {"ttft_ms": delay}}

    def rule_list(self, items: Any, path: str) -> list[_RuleSpec]:
        if not isinstance(items, list):
            raise self.error(path, f"must be a list of rules, got {_type_name(items)}")
        specs = []
        for i, data in enumerate(items):
            at = f"{path}[{i}]"
            if not isinstance(data, dict):
                raise self.error(at, f"must be a mapping, got {_type_name(data)}")
            _refuse_unknown(self, data, RULE_KEYS, at)
            if not isinstance(data.get("name"), str) or not data["name"]:
                raise self.error(at, "needs a name (a string)")
            specs.append(self.rule_spec(data, at))
        return specs

    def rule_spec(self, data: dict[str, Any], path: str, action_path: str | None = None) -> _RuleSpec:
        values: dict[str, Any] = {}
        fields = _data_fields(ResponseRule)
        for key in ("name", "priority", "enabled"):
            if key in data:
                values[key] = self.typed(fields[key], data[key], f"{path}.{key}")
        if "match" in data:
            values |= self.match(data["match"], f"{path}.match")
        if "action" in data:
            try:
                parse_action(data["action"], action_path or f"{path}.action")
            except RuleError as exc:
                raise PortabilityError(f"{self.name}: {exc}") from exc
            values["action"] = data["action"]
        return _RuleSpec(path, values)

    def match(self, data: Any, path: str) -> dict[str, Any]:
        """Every matcher field: those `data` names, the rest back to "any"."""
        values = {name: ResponseRule._meta.get_field(name).get_default() for name in MATCHERS.values()}
        if data is None:
            return values
        if isinstance(data, str):
            values["match_last_user"] = data
            return values
        if not isinstance(data, dict):
            raise self.error(path, "must be a string (the last user message contains it) or a mapping of matchers")
        _refuse_unknown(self, data, (*MATCHERS, *SEED_MATCHERS), path)
        set_by: dict[str, str] = {}  # matcher → the key of `data` that set it
        pattern_key = None  # the seed's key whose value is a regular expression
        for key, value in data.items():
            target, is_pattern = SEED_MATCHERS.get(key, (key, False))
            if key == "regex" and isinstance(value, str):
                target, is_pattern = "last_user", True
            if target in set_by:
                raise self.error(
                    path, f"{set_by[target]} and {key} both set {_MATCHER_TEXT.get(target, target)}; use one"
                )
            set_by[target] = key
            if is_pattern:
                pattern_key = key
            values[MATCHERS[target]] = self.typed(
                ResponseRule._meta.get_field(MATCHERS[target]), value, f"{path}.{key}"
            )
        if pattern_key is not None:
            if data.get("regex") is False:
                raise self.error(
                    f"{path}.regex", f"{pattern_key} is a regular expression: leave regex out, or use contains"
                )
            values["regex"] = True
        if values["regex"]:
            for target in ("last_user", "any_message"):
                if target in set_by:
                    try:
                        check_regex(values[MATCHERS[target]])
                    except RuleError as exc:
                        raise self.error(f"{path}.{set_by[target]}", str(exc)) from exc
        return values

    # --- rows

    def write(
        self,
        row: models.Model,
        data: dict[str, Any],
        path: str,
        created: bool,
        skip: Iterable[str] = (),
        replace: bool | None = None,
        name_path: str | None = None,
    ) -> models.Model:
        """Set the fields `data` lists (as the file names them) on `row`; see assign()."""
        fields = _data_fields(type(row))
        _refuse_unknown(self, data, [*fields, "rules"] if isinstance(row, Scenario) else fields, path)
        values = {
            name: self.typed(fields[name], value, f"{path}.{name}")
            for name, value in data.items()
            if name not in skip and name != "rules"
        }
        fields_list = [f for name, f in fields.items() if name not in skip]
        return self.assign(row, values, path, created, fields_list, replace, name_path)

    def assign(
        self,
        row: models.Model,
        values: dict[str, Any],
        path: str,
        created: bool,
        fields: list[models.Field],
        replace: bool | None = None,
        name_path: str | None = None,
    ) -> models.Model:
        """Set checked `values` (by field name) on `row`, validate it, and save it if anything changed.

        With replace, the other `fields` go back to their defaults first.
        """
        before = _state(row, fields)
        if (self.replace if replace is None else replace) and not created:
            for f in fields:
                if not (f.has_default() and callable(f.default)):  # keep created_at, whose default is "now"
                    setattr(row, f.attname, f.get_default())
        for name, value in values.items():
            setattr(row, name, value)
        self.clean(row, path, name_path)
        kind = KINDS[type(row)]
        if created or _state(row, fields) != before:
            row.save(using=self.using)
            (self.result.created if created else self.result.updated)[kind] += 1
        else:
            self.result.unchanged[kind] += 1
        return row

    def write_rules(self, scenario: Scenario, specs: list[_RuleSpec]) -> None:
        """Make `specs` the scenario's rules: update by name (in order, for repeated names), create, delete the rest."""
        existing: dict[str, deque[ResponseRule]] = defaultdict(deque)
        for rule in ResponseRule.objects.using(self.using).filter(scenario=scenario).order_by("id"):
            existing[rule.name].append(rule)
        fields = [f for name, f in _data_fields(ResponseRule).items() if name != "name"] + _matcher_fields()
        for spec in specs:
            rule = existing[spec.values["name"]].popleft() if existing.get(spec.values["name"]) else None
            if rule is None and "action" not in spec.values:
                raise self.error(spec.path, "a new rule needs an action")
            self.assign(rule or ResponseRule(scenario=scenario), spec.values, spec.path, rule is None, fields)
        left = [rule.pk for rules in existing.values() for rule in rules]
        if left:
            self.delete(ResponseRule.objects.using(self.using).filter(pk__in=left))

    def typed(self, f: models.Field, value: Any, path: str) -> Any:
        """`value` checked against the field's type (a reference resolved to its row); the model validates the rest."""
        if value is None:
            if f.null:
                return None
            raise self.error(path, f"must be {_kind_name(f)}, not null")
        if f.is_relation:
            model = f.related_model
            if not isinstance(value, str):
                raise self.error(path, f"must name a {KINDS[model]} (a string), got {_type_name(value)}")
            key = NATURAL_KEYS[model]
            row = model.objects.using(self.using).filter(**{key: value}).first()
            if row is None:
                known = ", ".join(model.objects.using(self.using).values_list(key, flat=True)) or "none"
                raise self.error(path, f"unknown {KINDS[model]} {value!r}; known: {known}")
            return row
        if isinstance(f, models.BooleanField):
            ok = isinstance(value, bool)
        elif isinstance(f, models.IntegerField):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(f, models.FloatField):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        elif isinstance(f, models.DateTimeField):
            value, ok = _datetime(value), True
            if value is None:
                raise self.error(path, "must be a date and time such as 2025-08-07T00:00:00+00:00")
        elif isinstance(f, models.DateField):  # YAML reads 2025-11-01 as a date, JSON as text
            value, ok = _date(value), True
            if value is None:
                raise self.error(path, "must be a date such as 2025-11-01")
        elif isinstance(f, models.JSONField):
            ok = True
        else:
            ok = isinstance(value, str)
        if not ok:
            raise self.error(path, f"must be {_kind_name(f)}, got {_type_name(value)} {value!r}")
        if isinstance(f, models.FloatField):
            value = float(value)
        if f.choices and value not in [choice for choice, _ in f.choices] and not (f.blank and value == ""):
            raise self.error(path, f"must be one of {', '.join(str(choice) for choice, _ in f.choices)}; got {value!r}")
        return value

    def clean(self, row: models.Model, path: str, name_path: str | None = None) -> None:
        """The model's own validation (ranges, lengths, cross-field checks), with the place named."""
        references = [f.name for f in type(row)._meta.concrete_fields if f.is_relation]  # resolved already
        try:
            row.full_clean(exclude=references, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            field_name, messages = next(iter(exc.message_dict.items()))
            where = name_path if name_path and field_name == "name" else _field_path(path, field_name)
            raise self.error(where, messages[0]) from exc

    def delete(self, queryset: models.QuerySet) -> None:
        _, by_model = queryset.delete()
        kinds = {model._meta.label: kind for model, kind in KINDS.items()}
        for label, count in by_model.items():
            if count:
                self.result.deleted[kinds.get(label, label)] += count


# What a matcher compares, for the message when a file sets it twice.
_MATCHER_TEXT = {"last_user": "the last user message", "system": "the system prompt"}


def _matcher_fields() -> list[models.Field]:
    return [ResponseRule._meta.get_field(name) for name in MATCHERS.values()]


def _state(row: models.Model, fields: Iterable[models.Field]) -> dict[str, Any]:
    return {f.attname: getattr(row, f.attname) for f in fields}


def _field_path(path: str, field_name: str) -> str:
    if field_name == NON_FIELD_ERRORS:
        return path
    key = next((key for key, name in MATCHERS.items() if name == field_name), None)
    return f"{path}.match.{key}" if key else f"{path}.{field_name}"


def _refuse_unknown(importer: _Importer, data: dict[str, Any], known: Iterable[str], path: str) -> None:
    known = list(known)
    for key in data:
        if key not in known:
            raise importer.error(f"{path}", f"unknown field {key!r}; known: {', '.join(sorted(known))}")


def _datetime(value: Any) -> datetime.datetime | None:
    if isinstance(value, str):
        value = parse_datetime(value.strip())
    elif isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time())
    if not isinstance(value, datetime.datetime):
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, datetime.UTC)


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, str):
        try:
            return parse_date(value.strip())
        except ValueError:  # well formed, but no such day
            return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    return None


def _kind_name(f: models.Field) -> str:
    if f.is_relation:
        return f"the name of a {KINDS[f.related_model]}"
    if isinstance(f, models.BooleanField):
        return "true or false"
    if isinstance(f, models.IntegerField):
        return "a whole number"
    if isinstance(f, models.FloatField):
        return "a number"
    if isinstance(f, models.DateField):
        return "a date"
    return "a string"


_TYPE_NAMES = {
    dict: "a mapping",
    list: "a list",
    type(None): "null",
    bool: "a boolean",
    str: "a string",
    int: "an integer",
    float: "a number",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)
