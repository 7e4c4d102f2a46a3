"""llmsim_export / llmsim_import: the round trip, merge and replace, the seed's mocks, and bad files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import yaml
from django.core.management import CommandError, call_command

from simulator.engine.rules import RequestFacts
from simulator.engine.types import CompletionRequest, Message
from simulator.models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings
from simulator.state.snapshots import build_snapshot, read_version
from tests.conftest import ROOT

# Exports list every row: these tests start without the shipped examples.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_shipped_examples")]


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "scenarios.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("llmsim_export", *args, stdout=out)
    return out.getvalue()


def import_file(path, *args: str) -> str:
    out = io.StringIO()
    call_command("llmsim_import", str(path), *args, stdout=out)
    return out.getvalue()


def populate() -> None:
    """A bit of everything an export carries."""
    ModelProfile.objects.create(model_id="my-model", provider="other", aliases="mine-*", ttft_mean_ms=12.5)
    flaky = ErrorProfile.objects.create(name="flaky", rate_limit_rate=0.25, stall_rate=0.1, stall_ms=300)
    checkout = Scenario.objects.create(
        name="checkout",
        description="Payments fail, then work.",
        generator="fixed",
        fixed_text="Confirmed.",
        latency_profile=ModelProfile.objects.get(model_id="instant"),
        error_profile=flaky,
        requests_per_minute=60,
        seed=7,
    )
    ResponseRule.objects.create(
        scenario=checkout,
        name="pay-fails-twice",
        priority=5,
        match_last_user=r"^pay \d+",
        regex=True,
        ignore_case=False,
        match_header="x-test-case: checkout-*",
        match_tools_present=False,
        action={"sequence": [{"error": {"status": 429, "retry_after_ms": 100}, "times": 2}, {"generate": True}]},
    )
    ResponseRule.objects.create(
        scenario=checkout, name="weather", enabled=False, match_tool_offered="get_weather", action={"text": "Sunny"}
    )
    Scenario.objects.create(name="empty")
    settings = SimulatorSettings.load()
    settings.default_scenario = checkout
    settings.error_profile = flaky
    settings.target_tokens = 33
    settings.save()


def wipe() -> None:
    for model in (Scenario, ErrorProfile, ModelProfile, SimulatorSettings):
        model.objects.all().delete()


# --- the round trip ----------------------------------------------------------------------


def test_an_export_imports_back_into_an_empty_database_unchanged(write):
    populate()
    profiles = ModelProfile.objects.count()
    first = export()
    wipe()
    output = import_file(write(first))
    assert f"created {profiles} model profiles, 1 error profile, 2 scenarios, 2 rules, 1 settings" in output
    assert export() == first
    rule = ResponseRule.objects.get(name="pay-fails-twice")
    assert (rule.regex, rule.ignore_case, rule.match_tools_present, rule.priority) == (True, False, False, 5)
    assert SimulatorSettings.load().default_scenario.name == "checkout"


def test_the_export_lists_rules_under_their_scenario_with_only_the_matchers_set():
    populate()
    scenario = next(s for s in yaml.safe_load(export())["scenarios"] if s["name"] == "checkout")
    assert (scenario["latency_profile"], scenario["error_profile"]) == ("instant", "flaky")
    assert scenario["rules"][1] == {
        "name": "weather",
        "priority": 100,
        "enabled": False,
        "match": {"tool_offered": "get_weather"},
        "action": {"text": "Sunny"},
    }


def test_a_json_export_imports_too(write):
    populate()
    as_yaml = export()
    as_json = export("--format", "json")
    assert json.loads(as_json) == yaml.safe_load(as_yaml)
    wipe()
    import_file(write(as_json, "scenarios.json"))
    assert export() == as_yaml


def test_importing_the_same_file_again_changes_nothing(write):
    populate()
    path = write(export())
    version = read_version()
    output = import_file(path)
    assert output.startswith(f"{path}: unchanged ")
    assert "created" not in output and "updated" not in output
    assert read_version() == version  # nothing saved: no process reloads


def test_a_dry_run_reports_and_changes_nothing(write):
    output = import_file(write("scenarios: [{name: new-one, generator: echo}]"), "--dry-run")
    assert "created 1 scenario" in output and "dry run" in output
    assert not Scenario.objects.filter(name="new-one").exists()


# --- merge and replace -------------------------------------------------------------------


def test_import_sets_the_fields_it_lists_and_keeps_the_others(write):
    populate()
    import_file(
        write("scenarios: [{name: checkout, generator: echo}]\nmodel_profiles: [{model_id: gpt-4o, tbt_mean_ms: 1}]")
    )
    checkout = Scenario.objects.get(name="checkout")
    assert (checkout.generator, checkout.fixed_text, checkout.seed) == ("echo", "Confirmed.", 7)
    assert checkout.rules.count() == 2  # no rules key: its rules stay
    gpt4o = ModelProfile.objects.get(model_id="gpt-4o")
    assert (gpt4o.tbt_mean_ms, gpt4o.context_window) == (1.0, 128_000)
    assert Scenario.objects.filter(name="empty").exists()


def test_prices_and_their_date_import_from_yaml_dates_and_json_text(write):
    import_file(write("model_profiles: [{model_id: gpt-4o, output_usd_per_mtok: 12, prices_as_of: 2026-01-15}]"))
    gpt4o = ModelProfile.objects.get(model_id="gpt-4o")
    assert (gpt4o.output_usd_per_mtok, gpt4o.prices_as_of.isoformat()) == (12.0, "2026-01-15")
    import_file(write('{"model_profiles": [{"model_id": "gpt-4o", "prices_as_of": "2026-02-01"}]}', "p.json"))
    assert ModelProfile.objects.get(model_id="gpt-4o").prices_as_of.isoformat() == "2026-02-01"


def test_a_models_load_imports_from_yaml_and_reaches_the_snapshot(write):
    from simulator.engine.load import LoadLimit
    from simulator.state.snapshots import spec_of

    import_file(
        write(
            "model_profiles: [{model_id: gpt-4o, max_concurrency: 8, load_factor: 2.5, queue_size: 16, "
            "overload_status: 429}]"
        )
    )
    gpt4o = ModelProfile.objects.get(model_id="gpt-4o")
    assert spec_of(gpt4o).load == LoadLimit(max_concurrency=8, load_factor=2.5, queue_size=16, overload_status=429)
    assert spec_of(ModelProfile.objects.get(model_id="gpt-5")).load is None  # the presets have no limit


def test_a_prompt_cache_minimum_imports_and_an_empty_one_turns_caching_off(write):
    assert ModelProfile.objects.get(model_id="gpt-4o").prompt_cache_min_tokens == 1024  # the preset
    import_file(write("model_profiles: [{model_id: gpt-4o, prompt_cache_min_tokens: 2048}]"))
    assert ModelProfile.objects.get(model_id="gpt-4o").prompt_cache_min_tokens == 2048
    import_file(write("model_profiles: [{model_id: gpt-4o, prompt_cache_min_tokens: null}]"))
    assert ModelProfile.objects.get(model_id="gpt-4o").prompt_cache_min_tokens is None


def test_a_rules_list_is_all_of_the_scenarios_rules(write):
    populate()
    kept = ResponseRule.objects.get(name="weather")
    import_file(
        write(
            "scenarios:\n"
            "  - name: checkout\n"
            "    rules:\n"
            "      - {name: weather, enabled: true}\n"
            "      - {name: new-rule, match: hello, action: {json: {ok: true}}}\n"
        )
    )
    rules = {rule.name: rule for rule in ResponseRule.objects.filter(scenario__name="checkout")}
    assert set(rules) == {"weather", "new-rule"}
    assert rules["weather"].pk == kept.pk and rules["weather"].enabled
    assert rules["weather"].match_tool_offered == "get_weather"  # not listed: kept
    assert (rules["new-rule"].match_last_user, rules["new-rule"].action) == ("hello", {"json": {"ok": True}})


def test_a_rules_match_is_replaced_whole(write):
    populate()
    import_file(write("scenarios: [{name: checkout, rules: [{name: pay-fails-twice, match: {model: gpt-5}}]}]"))
    rule = ResponseRule.objects.get(name="pay-fails-twice")
    assert (rule.match_model, rule.match_last_user, rule.regex, rule.match_header) == ("gpt-5", "", False, "")
    assert rule.priority == 5


def test_replace_deletes_what_the_sections_do_not_list_and_resets_left_out_fields(write):
    populate()
    output = import_file(write("scenarios: [{name: checkout, generator: echo}]"), "--replace")
    assert "deleted 1 scenario, 2 rules" in output
    checkout = Scenario.objects.get(name="checkout")
    assert (checkout.generator, checkout.fixed_text, checkout.seed, checkout.latency_profile) == (
        "echo",
        "",
        None,
        None,
    )
    assert list(Scenario.objects.values_list("name", flat=True)) == ["checkout"]
    assert ModelProfile.objects.filter(model_id="my-model").exists()  # no model_profiles section: untouched
    assert SimulatorSettings.load().target_tokens == 33  # no settings section: untouched


def test_replace_with_a_full_export_restores_it(write):
    populate()
    snapshot = export()
    import_file(write("scenarios: [{name: other}]\nerror_profiles: [{name: other}]"))
    Scenario.objects.filter(name="checkout").update(generator="random")
    import_file(write(snapshot), "--replace")
    assert export() == snapshot


# --- the seed's mocks ----------------------------------------------------------------------

SEED_MOCKS = r"""
mocks:
  - match: "weather"
    response: "It is sunny in Paris."
  - match: {model: "gpt-4*", contains: "order", ignore_case: false}
    response: {tool_calls: [{name: lookup_order, arguments: {id: 42}}]}
  - match: {pattern: "^refund \\d+$"}
    response: {error: {status: 429, retry_after_ms: 50}}
  - name: fallback
    match: {tools_present: false}
    response: {sequence: [{text: one}, {text: two}], when_exhausted: loop}
"""


def test_it_reads_the_seeds_mocks_as_rules_of_the_default_scenario(write):
    import_file(write(SEED_MOCKS))
    scenario = Scenario.objects.get(name="mocks")
    rules = list(scenario.rules.order_by("priority"))
    assert [(r.name, r.priority) for r in rules] == [("mock-1", 0), ("mock-2", 1), ("mock-3", 2), ("fallback", 3)]
    assert (rules[0].match_last_user, rules[0].action) == ("weather", {"text": "It is sunny in Paris."})
    assert (rules[1].match_model, rules[1].match_last_user, rules[1].ignore_case) == ("gpt-4*", "order", False)
    assert (rules[2].match_last_user, rules[2].regex) == (r"^refund \d+$", True)
    assert rules[3].match_tools_present is False
    assert SimulatorSettings.load().default_scenario == scenario


def test_mocks_answer_the_requests_they_match(write):
    import_file(write(SEED_MOCKS))
    rules = build_snapshot().default_scenario.rules

    def answer(text: str, model: str = "gpt-4o"):
        request = CompletionRequest(model=model, messages=(Message("user", text),))
        rule = rules.first_match(request, RequestFacts())
        return rule and rule.name

    assert answer("What's the WEATHER like?") == "mock-1"
    assert answer("where is my order?") == "mock-2"
    assert answer("where is my ORDER?") == "fallback"  # case-sensitive
    assert answer("where is my order?", model="claude-sonnet-4-5") == "fallback"
    assert answer("refund 12") == "mock-3"


def test_mocks_may_name_their_scenario_and_keep_a_chosen_default(write):
    populate()
    import_file(write("mocks: [{match: hi, response: hello, scenario: greetings}]"))
    assert Scenario.objects.get(name="greetings").rules.get().name == "mock-1"
    assert SimulatorSettings.load().default_scenario.name == "checkout"


def test_mocks_join_the_rules_of_a_listed_scenario(write):
    import_file(
        write(
            "scenarios: [{name: mocks, generator: echo, rules: [{name: first, action: {generate: true}}]}]\n"
            "mocks: [{match: hi, response: hello}]\n"
        )
    )
    scenario = Scenario.objects.get(name="mocks")
    assert scenario.generator == "echo"
    assert sorted(scenario.rules.values_list("name", flat=True)) == ["first", "mock-1"]


def test_importing_mocks_again_changes_nothing(write):
    path = write(SEED_MOCKS)
    import_file(path)
    version = read_version()
    import_file(path)
    assert read_version() == version


# --- bad files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("- scenarios", r"the top level must be a mapping of sections"),
        ("scenarios: [", r"invalid YAML"),
        ("bogus: []", r"unknown section 'bogus'; known sections: model_profiles, error_profiles, scenarios"),
        ("scenarios: {name: a}", r"scenarios: must be a list, got a mapping"),
        ("scenarios: [{name: a, genrator: echo}]", r"scenarios\[0\]: unknown field 'genrator'; known: .*generator"),
        ("scenarios: [{generator: echo}]", r"scenarios\[0\]: needs a name"),
        ("scenarios: [{name: a}, {name: a}]", r"scenarios\[1\]\.name: 'a' is listed twice \(also at scenarios\[0\]\)"),
        ("scenarios: [{name: 'a b'}]", r"scenarios\[0\]\.name: Enter a valid .slug."),
        ("scenarios: [{name: a, generator: loud}]", r"scenarios\[0\]\.generator: must be one of lorem, echo"),
        ("scenarios: [{name: a, target_tokens: many}]", r"scenarios\[0\]\.target_tokens: must be a whole number"),
        ("scenarios: [{name: a, target_tokens: 0}]", r"scenarios\[0\]\.target_tokens: Ensure this value is greater"),
        (
            "scenarios: [{name: a, latency_profile: gpt-99}]",
            r"scenarios\[0\]\.latency_profile: unknown model profile 'gpt-99'; known: claude",
        ),
        ("scenarios: [{name: a, rules: {name: r}}]", r"scenarios\[0\]\.rules: must be a list of rules"),
        ("scenarios: [{name: a, rules: [{name: r}]}]", r"scenarios\[0\]\.rules\[0\]: a new rule needs an action"),
        ("scenarios: [{name: a, rules: [{action: hi}]}]", r"scenarios\[0\]\.rules\[0\]: needs a name"),
        (
            "scenarios: [{name: a, rules: [{name: r, action: {sequence: [{text: x}, {error: {status: 299}}]}}]}]",
            r"scenarios\[0\]\.rules\[0\]\.action\.sequence\[1\]\.error\.status: must be one of 400, 401",
        ),
        (
            "scenarios: [{name: a, rules: [{name: r, action: {text: x, colour: red}}]}]",
            r"scenarios\[0\]\.rules\[0\]\.action: unknown field 'colour'",
        ),
        (
            "scenarios: [{name: a, rules: [{name: r, match: {modle: x}, action: {text: x}}]}]",
            r"scenarios\[0\]\.rules\[0\]\.match: unknown field 'modle'; known: any_message, api_key, contains",
        ),
        (
            "scenarios: [{name: a, rules: [{name: r, match: {regex: true, any_message: '(x'}, action: {text: x}}]}]",
            r"scenarios\[0\]\.rules\[0\]\.match\.any_message: invalid regular expression '\(x'",
        ),
        (
            "scenarios: [{name: a, rules: [{name: r, priority: high, action: {text: x}}]}]",
            r"scenarios\[0\]\.rules\[0\]\.priority: must be a whole number, got a string 'high'",
        ),
        ("mocks: [{match: {pattern: '('}, response: hi}]", r"mocks\[0\]\.match\.pattern: invalid regular expression"),
        (
            "mocks: [{match: {pattern: '(?<!no)deal'}, response: hi}]",
            r"mocks\[0\]\.match\.pattern: invalid regular expression '\(\?<!no\)deal': negative lookbehind",
        ),
        ("mocks: [{match: {contains: a, pattern: b}, response: hi}]", r"mocks\[0\]\.match: contains and pattern both"),
        ("mocks: [{match: {pattern: a, regex: false}, response: hi}]", r"mocks\[0\]\.match\.regex: pattern is a"),
        ("mocks: [{match: 3, response: hi}]", r"mocks\[0\]\.match: must be a string .* or a mapping of matchers"),
        ("mocks: [{match: hi}]", r"mocks\[0\]: needs a response"),
        (
            "mocks: [{match: hi, respond: x}]",
            r"mocks\[0\]: unknown field 'respond'; known: match, name, priority, response",
        ),
        ("mocks: [{match: hi, response: {error: 7}}]", r"mocks\[0\]\.response\.error\.status: must be one of"),
        ("mocks: [{match: hi, response: hi, scenario: 'no way'}]", r"mocks\[0\]\.scenario: Enter a valid .slug."),
        (
            "error_profiles: [{name: e, rate_limit_rate: high}]",
            r"error_profiles\[0\]\.rate_limit_rate: must be a number",
        ),
        ("error_profiles: [{name: e, stall_rate: 2}]", r"error_profiles\[0\]\.stall_rate: Ensure this value is less"),
        (
            "error_profiles: [{name: e, rate_limit_rate: 0.6, server_error_rate: 0.6}]",
            r"error_profiles\[0\]: The rates add up to 1.2",
        ),
        ("error_profiles: [{name: e, timeout_action: 504}]", r"error_profiles\[0\]\.timeout_action: must be a string"),
        ("model_profiles: [{model_id: m, ttft_mean_ms: .nan}]", r"model_profiles\[0\]\.ttft_mean_ms: must be a number"),
        ("model_profiles: [{model_id: m, listed: 'yes'}]", r"model_profiles\[0\]\.listed: must be true or false"),
        ("model_profiles: [{model_id: m, created_at: soon}]", r"model_profiles\[0\]\.created_at: must be a date"),
        (
            "model_profiles: [{model_id: m, context_window: 10, max_output_tokens: 20}]",
            r"model_profiles\[0\]\.max_output_tokens: Cannot exceed the context window",
        ),
        (
            "model_profiles: [{model_id: m, max_concurrency: 0}]",
            r"model_profiles\[0\]\.max_concurrency: Ensure this value is greater than or equal to 1",
        ),
        ("model_profiles: [{model_id: m, load_factor: 0.5}]", r"model_profiles\[0\]\.load_factor: Ensure this value"),
        ("model_profiles: [{model_id: m, overload_status: 500}]", r"model_profiles\[0\]\.overload_status: "),
        ("model_profiles: [{model_id: m, prices_as_of: soon}]", r"model_profiles\[0\]\.prices_as_of: must be a date"),
        ("model_profiles: [{model_id: m, prices_as_of: '2025-02-30'}]", r"model_profiles\[0\]\.prices_as_of: must be"),
        ("settings: [generator]", r"settings: must be a mapping, got a list"),
        ("settings: {default_scenario: nope}", r"settings\.default_scenario: unknown scenario 'nope'; known: none"),
        ("settings: {strict_models: 1}", r"settings\.strict_models: must be true or false, got an integer 1"),
    ],
)
def test_it_refuses_a_bad_file_naming_the_file_and_the_place(write, text, message):
    path = write(text)
    with pytest.raises(CommandError, match=rf"^{path}: {message}"):
        import_file(path)


def test_an_error_anywhere_changes_nothing(write):
    version = read_version()
    path = write("scenarios: [{name: fine}]\nsettings: {generator: nope}\n")
    with pytest.raises(CommandError, match=r"settings\.generator: must be one of lorem, echo"):
        import_file(path)
    assert not Scenario.objects.filter(name="fine").exists()
    assert read_version() == version


def test_it_names_a_file_it_cannot_read(tmp_path):
    with pytest.raises(CommandError, match=r"missing\.yaml: cannot read the file: No such file"):
        import_file(tmp_path / "missing.yaml")


def test_an_empty_file_imports_nothing(write):
    assert import_file(write("")).endswith(": nothing to import\n")


@pytest.mark.parametrize("command", [["llmsim_export"], ["llmsim_import", "-"]])
def test_a_database_without_tables_gets_a_hint_not_a_traceback(tmp_path, command):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}"}
    done = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        input="scenarios: [{name: checkout}]",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "python manage.py migrate" in done.stderr
    assert "Traceback" not in done.stderr
