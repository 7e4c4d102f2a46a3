"""The YAML configuration, LLMSIM_* variables and serve flags: parsing, validation, precedence."""

from __future__ import annotations

import os

import pytest

from simulator.config import (
    Config,
    ConfigError,
    find_profile,
    from_environ,
    from_flags,
    load_file,
    resolve,
    to_environ,
)

SEED_EXAMPLE = """
server: {host: 0.0.0.0, port: 9000}
latency: {profile: gpt-4o}
response: {generator: lorem, target_tokens: 250}
errors: {rate_limit_rate: 0.1, server_error_rate: 0.05, timeout_rate: 0.0, timeout_after_ms: 30000}
models: {strict: true}
"""


@pytest.fixture
def write(tmp_path):
    def write(text: str):
        path = tmp_path / "llmsim.yaml"
        path.write_text(text)
        return path

    return write


def error_of(write, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve(write(text), environ={})
    return str(caught.value)


def test_it_reads_the_seed_schema(write):
    config = load_file(write(SEED_EXAMPLE))
    assert config.values == {
        "server.host": "0.0.0.0",
        "server.port": 9000,
        "latency.profile": "gpt-4o",
        "response.generator": "lorem",
        "response.target_tokens": 250,
        "errors.rate_limit_rate": 0.1,
        "errors.server_error_rate": 0.05,
        "errors.timeout_rate": 0.0,
        "errors.timeout_after_ms": 30000,
        "models.strict": True,
    }


def test_it_reads_the_extra_keys(write):
    config = load_file(
        write(
            "response: {fixed_text: Hello, seed: 7}\n"
            "errors: {service_unavailable_rate: 0.2, timeout_action: disconnect, retry_after_ms: 250}\n"
        )
    )
    assert config.get("response.fixed_text") == "Hello"
    assert config.get("response.seed") == 7
    assert config.get("errors.service_unavailable_rate") == 0.2
    assert config.get("errors.timeout_action") == "disconnect"
    assert config.get("errors.retry_after_ms") == 250


def test_it_reads_an_empty_file_as_nothing_set(write):
    assert load_file(write("")).values == {}
    assert load_file(write("errors:\n")).values == {}


def test_it_reads_custom_latency(write):
    config = load_file(write("latency: {ttft_mean_ms: 500, ttft_stddev_ms: 100, tbt_mean_ms: 25, tbt_stddev_ms: 5}"))
    assert config.values == {
        "latency.ttft_mean_ms": 500.0,
        "latency.ttft_stddev_ms": 100.0,
        "latency.tbt_mean_ms": 25.0,
        "latency.tbt_stddev_ms": 5.0,
    }


@pytest.mark.parametrize(
    "shorthand, preset",
    [
        ("gpt4", "gpt-4"),
        ("gpt4o", "gpt-4o"),
        ("gpt5", "gpt-5"),
        ("gpt5-mini", "gpt-5-mini"),
        ("o-series", "o3"),
        ("o4", "o3"),
        ("claude-opus", "claude-opus-4-1"),
        ("sonnet", "claude-sonnet-4-5"),
        ("Haiku", "claude-haiku-4-5"),
        ("gemini", "gemini-2.5-pro"),
        ("gemini-pro", "gemini-2.5-pro"),
        ("instant", "instant"),
        ("gpt-4.1", "gpt-4.1"),  # a model id is used as it is
    ],
)
def test_it_maps_the_seed_profile_shorthands(write, shorthand, preset):
    assert load_file(write(f"latency: {{profile: {shorthand}}}")).get("latency.profile") == preset


def test_it_splits_the_fixed_generator_shorthand(write):
    config = load_file(write('response: {generator: "fixed:Some text"}'))
    assert config.get("response.generator") == "fixed"
    assert config.get("response.fixed_text") == "Some text"


@pytest.mark.parametrize("action, stored", [(504, "status_504"), ("504", "status_504"), ("disconnect", "disconnect")])
def test_it_accepts_both_timeout_actions(write, action, stored):
    assert load_file(write(f"errors: {{timeout_action: {action}}}")).get("errors.timeout_action") == stored


# --- errors name the file and the key ---------------------------------------------


def test_it_rejects_an_unknown_key_and_lists_the_known_ones(write):
    message = error_of(write, "response: {generator: echo, colour: blue}")
    assert "llmsim.yaml" in message
    assert "response.colour" in message
    assert "target_tokens" in message and "fixed_text" in message


def test_it_rejects_an_unknown_section(write):
    message = error_of(write, "logging: {level: debug}")
    assert "llmsim.yaml" in message and "'logging'" in message and "errors" in message


@pytest.mark.parametrize(
    "text, key",
    [
        ("server: {port: eighty}", "server.port"),
        ("response: {target_tokens: 1.5}", "response.target_tokens"),
        ("response: {target_tokens: true}", "response.target_tokens"),
        ("models: {strict: 'yes'}", "models.strict"),
        ("errors: {rate_limit_rate: high}", "errors.rate_limit_rate"),
        ("latency: {ttft_mean_ms: [1, 2]}", "latency.ttft_mean_ms"),
        ("response: {fixed_text: 42}", "response.fixed_text"),
    ],
)
def test_it_rejects_wrong_types(write, text, key):
    message = error_of(write, text)
    assert "llmsim.yaml" in message and key in message and "must be" in message


def test_it_rejects_a_section_that_is_not_a_mapping(write):
    message = error_of(write, "latency: gpt-4o")
    assert "llmsim.yaml" in message and "latency must be a mapping" in message


@pytest.mark.parametrize(
    "text, key",
    [
        ("server: {port: 0}", "server.port"),
        ("server: {port: 65536}", "server.port"),
        ("response: {target_tokens: 0}", "response.target_tokens"),
        ("response: {target_tokens: 1000001}", "response.target_tokens"),
        ("errors: {rate_limit_rate: 1.5}", "errors.rate_limit_rate"),
        ("errors: {timeout_rate: -0.1}", "errors.timeout_rate"),
        ("errors: {timeout_after_ms: -1}", "errors.timeout_after_ms"),
        ("errors: {retry_after_ms: -5}", "errors.retry_after_ms"),
        ("latency: {tbt_mean_ms: -1}", "latency.tbt_mean_ms"),
        ("latency: {ttft_mean_ms: .inf}", "latency.ttft_mean_ms"),
        ("tools: {call_rate: 1.5}", "tools.call_rate"),
        ("tools: {rounds: -1}", "tools.rounds"),
        ("tools: {parallel_calls: 0}", "tools.parallel_calls"),
    ],
)
def test_it_rejects_out_of_range_values(write, text, key):
    message = error_of(write, text)
    assert "llmsim.yaml" in message and key in message


def test_it_rejects_rates_that_add_up_to_more_than_one(write):
    message = error_of(write, "errors: {rate_limit_rate: 0.6, server_error_rate: 0.3, timeout_rate: 0.2}")
    assert "llmsim.yaml" in message and "errors.rate_limit_rate" in message and "add up to 1.1" in message


def test_it_rejects_a_profile_and_custom_latency_together(write):
    message = error_of(write, "latency: {profile: gpt-4o, ttft_mean_ms: 100}")
    assert "llmsim.yaml: latency" in message and "not both" in message


@pytest.mark.parametrize("generator", ["shakespeare", "fixed:", "echo:me"])
def test_it_rejects_an_unknown_generator(write, generator):
    message = error_of(write, f'response: {{generator: "{generator}"}}')
    assert "llmsim.yaml: response.generator" in message
    assert "use one of lorem, echo, random, fixed" in message or "'fixed:' needs the text" in message


def test_it_rejects_invalid_yaml(write):
    message = error_of(write, "latency: {profile: gpt-4o\n")
    assert "llmsim.yaml: invalid YAML" in message


def test_it_rejects_a_file_it_cannot_read(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_file(tmp_path / "missing.yaml")


def test_it_rejects_a_top_level_that_is_not_a_mapping(write):
    assert "top level must be a mapping" in error_of(write, "- server\n- latency\n")


# --- environment and flags ----------------------------------------------------------


def test_it_reads_every_environment_variable():
    environ = {
        "LLMSIM_HOST": "0.0.0.0",
        "LLMSIM_PORT": "9001",
        "LLMSIM_TTFT_MEAN_MS": "10",
        "LLMSIM_TTFT_STDDEV_MS": "1",
        "LLMSIM_TBT_MEAN_MS": "2",
        "LLMSIM_TBT_STDDEV_MS": "0.5",
        "LLMSIM_GENERATOR": "fixed",
        "LLMSIM_TARGET_TOKENS": "20",
        "LLMSIM_FIXED_TEXT": "Hi",
        "LLMSIM_SEED": "-3",
        "LLMSIM_RATE_LIMIT_RATE": "0.1",
        "LLMSIM_SERVER_ERROR_RATE": "0.1",
        "LLMSIM_SERVICE_UNAVAILABLE_RATE": "0.1",
        "LLMSIM_TIMEOUT_RATE": "0.1",
        "LLMSIM_TIMEOUT_AFTER_MS": "100",
        "LLMSIM_TIMEOUT_ACTION": "disconnect",
        "LLMSIM_RETRY_AFTER_MS": "50",
        "LLMSIM_STRICT_MODELS": "yes",
        "LLMSIM_TOOL_CALL_RATE": "0.5",
        "LLMSIM_TOOL_CALL_ROUNDS": "2",
        "LLMSIM_PARALLEL_TOOL_CALLS": "3",
        "UNRELATED": "x",
    }
    config = from_environ(environ)
    assert len(config.values) == 21
    assert (config.get("tools.call_rate"), config.get("tools.rounds"), config.get("tools.parallel_calls")) == (
        0.5,
        2,
        3,
    )
    assert config.get("server.port") == 9001
    assert config.get("latency.tbt_stddev_ms") == 0.5
    assert config.get("response.seed") == -3
    assert config.get("models.strict") is True
    assert from_environ({"LLMSIM_LATENCY_PROFILE": "opus"}).get("latency.profile") == "claude-opus-4-1"


def test_it_ignores_empty_environment_variables():
    assert from_environ({"LLMSIM_PORT": "", "LLMSIM_GENERATOR": ""}).values == {}


@pytest.mark.parametrize(
    "name, value",
    [
        ("LLMSIM_PORT", "http"),
        ("LLMSIM_PORT", "70000"),
        ("LLMSIM_STRICT_MODELS", "maybe"),
        ("LLMSIM_TIMEOUT_ACTION", "retry"),
        ("LLMSIM_GENERATOR", "poem"),
        ("LLMSIM_RATE_LIMIT_RATE", "nan"),
    ],
)
def test_it_names_the_variable_in_errors(name, value):
    with pytest.raises(ConfigError, match=name):
        from_environ({name: value})


def test_it_names_the_flag_in_errors():
    with pytest.raises(ConfigError, match="--target-tokens"):
        from_flags({"target_tokens": "0"})


def test_to_environ_round_trips():
    config = resolve(
        None,
        {"LLMSIM_TIMEOUT_ACTION": "504", "LLMSIM_RATE_LIMIT_RATE": "0.1", "LLMSIM_TBT_MEAN_MS": "12.5"},
        {"generator": "fixed:Hi there", "strict_models": True, "port": "8123"},
    )
    assert from_environ(to_environ(config)).values == config.values


def test_to_environ_keeps_where_each_value_came_from(write):
    """serve hands its workers the values as variables; they still name the flag or file."""
    config = resolve(write("response: {target_tokens: 7}"), {"LLMSIM_SEED": "3"}, {"generator": "echo"})
    back = from_environ(to_environ(config))
    assert back.source("response.generator") == "flag --generator"
    assert back.source("response.seed") == "environment LLMSIM_SEED"
    assert back.source("response.target_tokens").endswith("llmsim.yaml: response.target_tokens")
    assert back.source("response.target_tokens").startswith("file ")


# --- precedence: file < environment < flags -----------------------------------------------


def test_environment_wins_over_the_file_and_flags_over_both(write):
    path = write("server: {port: 9000, host: 0.0.0.0}\nresponse: {generator: echo, target_tokens: 5}\n")
    config = resolve(path, {"LLMSIM_GENERATOR": "random", "LLMSIM_PORT": "9001"}, {"generator": "lorem"})
    assert config.get("response.generator") == "lorem"
    assert config.where("response.generator") == "--generator"
    assert config.get("server.port") == 9001
    assert config.get("server.host") == "0.0.0.0"
    assert config.get("response.target_tokens") == 5


def test_unset_flags_leave_lower_layers_alone(write):
    path = write("models: {strict: true}\nresponse: {generator: echo}\n")
    config = resolve(path, {}, {"strict_models": False, "generator": None, "port": None})
    assert config.get("models.strict") is True
    assert config.get("response.generator") == "echo"


def test_a_later_profile_replaces_custom_latency_and_back(write):
    path = write("latency: {ttft_mean_ms: 5, tbt_mean_ms: 1}")
    assert resolve(path, {}, {"latency_profile": "gpt5"}).values == {"latency.profile": "gpt-5"}
    config = resolve(write("latency: {profile: gpt-4o}"), {"LLMSIM_TTFT_MEAN_MS": "7"})
    assert config.values == {"latency.ttft_mean_ms": 7.0}


def test_rates_are_summed_across_layers(write):
    with pytest.raises(ConfigError, match="LLMSIM_TIMEOUT_RATE"):
        resolve(write("errors: {rate_limit_rate: 0.7}"), {"LLMSIM_TIMEOUT_RATE": "0.5"})


def test_the_fixed_text_of_a_flag_replaces_the_files(write):
    config = resolve(write("response: {generator: fixed, fixed_text: From the file}"), {}, {"generator": "fixed:Flag"})
    assert config.get("response.fixed_text") == "Flag"


# --- layered over the stored settings, in this process only ---------------------------------
# (These replace tests of the old behaviour, which wrote the configuration into the
# SimulatorSettings row and the "custom" / "config" profiles.)


def overridden(config: Config):
    from simulator.process_overrides import Overrides
    from simulator.state.snapshots import build_snapshot

    return build_snapshot(overrides=Overrides(config))


def stored_settings() -> tuple:
    from simulator.models import SimulatorSettings

    row = SimulatorSettings.load()
    return (row.generator, row.target_tokens, row.latency_profile_id, row.error_profile_id, row.strict_models)


@pytest.mark.django_db
def test_the_configuration_overrides_the_snapshot_not_the_stored_settings():
    from simulator.models import SimulatorSettings

    row = SimulatorSettings.load()
    row.target_tokens = 42
    row.save()
    before = stored_settings()
    snapshot = overridden(resolve(None, {"LLMSIM_GENERATOR": "echo", "LLMSIM_LATENCY_PROFILE": "gpt4o"}))
    scenario = snapshot.default_scenario
    assert (scenario.generator, scenario.target_tokens) == ("echo", 42)  # 42: the stored value shows through
    assert scenario.latency_override == snapshot.resolve("gpt-4o").latency
    assert not scenario.errors.active
    assert stored_settings() == before


@pytest.mark.django_db
def test_the_tool_call_settings_are_overridden():
    snapshot = overridden(resolve(None, {"LLMSIM_TOOL_CALL_RATE": "0.25", "LLMSIM_TOOL_CALL_ROUNDS": "3"}))
    tools = snapshot.default_scenario.tools
    assert (tools.call_rate, tools.rounds, tools.parallel_calls) == (0.25, 3, 1)


@pytest.mark.django_db
def test_the_environment_turns_enforcement_of_the_model_rate_limits_on_in_this_process():
    from simulator.models import SimulatorSettings

    assert overridden(resolve(None, {"LLMSIM_ENFORCE_MODEL_RATE_LIMITS": "yes"})).default_scenario.enforce_model_limits
    assert SimulatorSettings.load().enforce_model_rate_limits is False


@pytest.mark.django_db
def test_custom_latency_and_errors_make_profiles_of_this_process_only():
    from simulator.engine.latency import LatencyProfile
    from simulator.models import ErrorProfile, ModelProfile

    snapshot = overridden(resolve(None, {"LLMSIM_TTFT_MEAN_MS": "5", "LLMSIM_TIMEOUT_RATE": "0.25"}))
    # The values the configuration leaves out are the admin's defaults for a new profile.
    assert snapshot.default_scenario.latency_override == LatencyProfile(5.0, 150.0, 40.0, 12.0)
    errors = snapshot.default_scenario.errors
    assert (errors.timeout_rate, errors.rate_limit_rate, errors.timeout_after_ms) == (0.25, 0.0, 30000)
    assert not ModelProfile.objects.filter(model_id="custom").exists()
    assert not ErrorProfile.objects.filter(name="config").exists()


@pytest.mark.django_db
def test_strict_models_is_overridden():
    assert overridden(resolve(None, {}, {"strict_models": True})).strict_models is True


@pytest.mark.django_db
def test_a_named_scenario_inherits_the_overrides_it_does_not_set_itself():
    from simulator.models import Scenario

    Scenario.objects.create(name="checkout", target_tokens=5)
    scenario = overridden(resolve(None, {"LLMSIM_GENERATOR": "echo", "LLMSIM_TARGET_TOKENS": "9"})).scenario("checkout")
    assert (scenario.generator, scenario.target_tokens) == ("echo", 5)


@pytest.mark.django_db
def test_an_unknown_profile_is_refused_naming_its_source():
    with pytest.raises(ConfigError, match=r"--latency-profile: unknown profile .gpt-99.*gpt-4o"):
        find_profile(resolve(None, {}, {"latency_profile": "gpt-99"}))


def test_an_empty_config_overrides_nothing():
    assert Config().override_keys() == []
    assert resolve(None, {"LLMSIM_PORT": "9000"}).override_keys() == []


@pytest.mark.django_db
def test_startup_refuses_a_bad_config_file(settings, write):
    from django.core.exceptions import ImproperlyConfigured

    from simulator import process_overrides

    settings.LLMSIM_CONFIG = str(write("errors: {timeout_rate: 2}"))
    with pytest.raises(ImproperlyConfigured, match=r"llmsim\.yaml: errors\.timeout_rate: must be between 0 and 1"):
        process_overrides.load()


@pytest.mark.django_db
def test_startup_without_config_leaves_the_database_alone(settings, monkeypatch):
    from simulator import process_overrides
    from simulator.state.snapshots import read_version

    settings.LLMSIM_CONFIG = ""
    for name in [name for name in os.environ if name.startswith("LLMSIM_")]:
        monkeypatch.delenv(name)
    before = read_version()
    assert not process_overrides.load()
    assert read_version() == before


@pytest.mark.django_db
def test_startup_reads_the_file_and_the_environment_and_writes_neither(settings, write, monkeypatch):
    from simulator import process_overrides
    from simulator.state.snapshots import read_version

    settings.LLMSIM_CONFIG = str(write("response: {generator: echo, target_tokens: 9}"))
    monkeypatch.setenv("LLMSIM_TARGET_TOKENS", "11")
    before, version = stored_settings(), read_version()
    overrides = process_overrides.load()
    assert (overrides.config.get("response.generator"), overrides.config.get("response.target_tokens")) == ("echo", 11)
    assert (stored_settings(), read_version()) == (before, version)


# --- scenario data in the configuration file ----------------------------------------------

CONFIG_WITH_SCENARIOS = """
latency: {profile: fast-model}
response: {generator: echo}
model_profiles:
  - {model_id: fast-model, provider: other, ttft_mean_ms: 5, ttft_stddev_ms: 0, tbt_mean_ms: 1, tbt_stddev_ms: 0}
scenarios:
  - name: checkout
    generator: fixed
    fixed_text: Paid.
    rules:
      - {name: refuse, match: {last_user: refund}, action: {error: {status: 403}}}
mocks:
  - {match: weather, response: It is sunny.}
"""


def test_the_data_sections_are_the_importers():
    from simulator import config, portability

    assert config.DATA_SECTIONS == portability.SECTIONS


def test_the_file_keeps_its_scenario_data_for_the_import(write):
    config = resolve(write(CONFIG_WITH_SCENARIOS), environ={"LLMSIM_GENERATOR": "lorem"})
    assert set(config.data) == {"model_profiles", "scenarios", "mocks"}
    assert config.data_source.endswith("llmsim.yaml")
    assert config.get("response.generator") == "lorem"
    assert "model_profiles (1), scenarios (1), mocks (1)" in config.describe()


@pytest.mark.django_db
def test_a_data_section_of_the_wrong_kind_is_refused_when_imported(write):
    from simulator.process_overrides import import_file_data

    config = load_file(write("scenarios: {name: a}\n"))
    with pytest.raises(ConfigError, match=r"llmsim\.yaml: scenarios: must be a list, got a mapping"):
        import_file_data(config)


@pytest.mark.django_db
def test_startup_imports_the_files_scenarios_and_mocks_but_not_its_settings(settings, write):
    from simulator import process_overrides
    from simulator.models import ModelProfile, Scenario
    from simulator.state.snapshots import build_snapshot

    settings.LLMSIM_CONFIG = str(write(CONFIG_WITH_SCENARIOS))
    before = stored_settings()
    overrides = process_overrides.load()
    # The data is imported...
    assert ModelProfile.objects.get(model_id="fast-model").ttft_mean_ms == 5.0
    checkout = Scenario.objects.get(name="checkout")
    assert (checkout.fixed_text, checkout.rules.get().match_last_user) == ("Paid.", "refund")
    assert Scenario.objects.get(name="mocks").rules.get().action == {"text": "It is sunny."}
    # ...the settings are this process's: the stored ones (default scenario included) stay.
    from simulator.models import SimulatorSettings

    assert stored_settings() == before and SimulatorSettings.load().default_scenario is None
    snapshot = build_snapshot(overrides=overrides)
    assert snapshot.default_scenario.name == "mocks"  # the seed's mocks answer every request of this process
    assert snapshot.default_scenario.generator == "echo"
    assert snapshot.default_scenario.latency_override.ttft_mean_ms == 5.0  # the file's own profile
    assert build_snapshot().default_scenario.name == "default"  # what other processes build


@pytest.mark.django_db
def test_the_mocks_of_the_file_leave_a_stored_default_scenario_alone(settings, write):
    from simulator import process_overrides
    from simulator.models import Scenario, SimulatorSettings
    from simulator.state.snapshots import build_snapshot

    row = SimulatorSettings.load()
    row.default_scenario = Scenario.objects.create(name="chosen")
    row.save()
    settings.LLMSIM_CONFIG = str(write(CONFIG_WITH_SCENARIOS))
    assert build_snapshot(overrides=process_overrides.load()).default_scenario.name == "chosen"


@pytest.mark.django_db
def test_the_files_settings_section_overrides_this_process_only(settings, write):
    from simulator import process_overrides
    from simulator.models import Scenario, SimulatorSettings
    from simulator.state.snapshots import build_snapshot

    Scenario.objects.create(name="chosen", fixed_text="Chosen.")
    settings.LLMSIM_CONFIG = str(
        write("settings: {generator: fixed, fixed_text: From the file, default_scenario: chosen, target_tokens: 3}\n")
    )
    before = stored_settings()
    overrides = process_overrides.load()
    snapshot = build_snapshot(overrides=overrides)
    assert (snapshot.default_scenario.name, snapshot.default_scenario.fixed_text) == ("chosen", "Chosen.")
    assert (snapshot.default_scenario.generator, snapshot.default_scenario.target_tokens) == ("fixed", 3)
    assert stored_settings() == before and SimulatorSettings.load().default_scenario is None
    assert {row["setting"]: row["source"] for row in overrides.listing()}["settings.default_scenario"].endswith(
        "llmsim.yaml: settings.default_scenario"
    )


@pytest.mark.django_db
def test_a_bad_settings_section_is_refused_at_startup(settings, write):
    from django.core.exceptions import ImproperlyConfigured

    from simulator import process_overrides

    settings.LLMSIM_CONFIG = str(write("settings: {default_scenario: nowhere}\n"))
    with pytest.raises(ImproperlyConfigured, match=r"llmsim\.yaml: settings\.default_scenario: unknown scenario"):
        process_overrides.load()


@pytest.mark.django_db
def test_loading_the_same_file_again_saves_nothing(settings, write):
    from simulator import process_overrides
    from simulator.state.snapshots import read_version

    settings.LLMSIM_CONFIG = str(write(CONFIG_WITH_SCENARIOS))
    process_overrides.load()
    version = read_version()
    process_overrides.load()  # what every worker process of `serve` does
    assert read_version() == version


@pytest.mark.django_db
def test_startup_refuses_a_bad_rule_naming_the_file_and_the_place(settings, write):
    from django.core.exceptions import ImproperlyConfigured

    from simulator import process_overrides
    from simulator.models import Scenario

    settings.LLMSIM_CONFIG = str(write("scenarios: [{name: a, rules: [{name: r, action: {txt: hi}}]}]\n"))
    with pytest.raises(
        ImproperlyConfigured, match=r"llmsim\.yaml: scenarios\[0\]\.rules\[0\]\.action: unknown field 'txt'"
    ):
        process_overrides.load()
    assert not Scenario.objects.filter(name="a").exists()


@pytest.mark.live
def test_a_server_answers_the_mocks_of_its_configuration_file(tmp_path):
    import openai

    from tests.conftest import INSTANT, start_server, stop_server

    path = tmp_path / "llmsim.yaml"
    path.write_text("mocks:\n  - {match: weather, response: It is sunny.}\n")
    server = start_server(tmp_path, extra_env={"LLMSIM_CONFIG": str(path)})
    try:
        with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="test", max_retries=0) as sdk:
            answer = sdk.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "How is the weather?"}], extra_headers=INSTANT
            )
    finally:
        stop_server(server)
    assert answer.choices[0].message.content == "It is sunny."
