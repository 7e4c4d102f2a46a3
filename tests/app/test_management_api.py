"""The management API under /llmsim/api/: auth, CRUD, validation, the default scenario, resets,
export and import — in process, and against a live server (hot reload, sequence resets)."""

from __future__ import annotations

import asyncio
import io
import json
import time
import urllib.error
import urllib.request

import openai
import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import F
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from simulator.engine.rules import Match, RequestFacts, Rule, local_sequences, parse_action
from simulator.engine.types import CompletionRequest, Message
from simulator.models import ResponseRule, Scenario, SimulatorSettings, SnapshotVersion
from simulator.state import buckets
from simulator.state.snapshots import read_version, refresh
from tests.conftest import INSTANT

API = "/llmsim/api"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def user(username: str, staff: bool = True):
    return get_user_model().objects.create_user(username=username, password="pw-" + username, is_staff=staff)


@pytest.fixture
def staff_token(db) -> str:
    return Token.objects.create(user=user("ci")).key


@pytest.fixture
def api(staff_token, no_shipped_examples) -> APIClient:
    """A staff client, on a database without the shipped examples (lists and exports name every row)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {staff_token}")
    return client


def make_scenario(api: APIClient, name: str = "checkout", **fields) -> dict:
    response = api.post(f"{API}/scenarios/", {"name": name, **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def make_rule(api: APIClient, scenario: str = "checkout", name: str = "r", **fields) -> dict:
    body = {"scenario": scenario, "name": name, "action": {"text": "hi"}, **fields}
    response = api.post(f"{API}/rules/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- authentication ---------------------------------------------------------------------


def test_anonymous_requests_get_401_with_a_challenge(db):
    response = APIClient().get(f"{API}/scenarios/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="llmsim"'
    assert APIClient().post(f"{API}/reset-sequences/").status_code == 401


def test_an_unknown_token_gets_401(db):
    client = APIClient()
    for scheme in ("Token", "Bearer"):
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} nope")
        response = client.get(f"{API}/scenarios/")
        assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


def test_a_user_who_is_not_staff_gets_403(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user('visitor', staff=False)).key}")
    assert client.get(f"{API}/scenarios/").status_code == 403


def test_a_staff_token_works_as_token_or_bearer(staff_token):
    client = APIClient()
    for scheme in ("Token", "Bearer"):
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {staff_token}")
        assert client.get(f"{API}/scenarios/").status_code == 200


def test_llmsim_admin_token_works_as_a_bearer_token(db, settings):
    settings.LLMSIM_ADMIN_TOKEN = "s3cret"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer s3cret")
    assert client.post(f"{API}/scenarios/", {"name": "by-token"}, format="json").status_code == 201
    client.credentials(HTTP_AUTHORIZATION="Bearer s3cre")
    assert client.get(f"{API}/scenarios/").status_code == 401


def test_an_admin_session_works_with_its_csrf_token(db):
    user("admin")
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="admin", password="pw-admin")
    assert client.get(f"{API}/scenarios/").status_code == 200
    refused = client.post(f"{API}/scenarios/", {"name": "x"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.get("/admin/")  # sets the csrftoken cookie, as any admin page does
    csrf = client.cookies["csrftoken"].value
    assert client.post(f"{API}/scenarios/", {"name": "x"}, format="json", HTTP_X_CSRFTOKEN=csrf).status_code == 201


def test_a_session_that_is_not_staff_gets_403(db):
    user("visitor", staff=False)
    client = APIClient()
    client.login(username="visitor", password="pw-visitor")
    assert client.get(f"{API}/scenarios/").status_code == 403


def test_the_token_endpoint_gives_staff_their_token(db):
    staff = user("ops")
    response = APIClient().post(f"{API}/token/", {"username": "ops", "password": "pw-ops"}, format="json")
    assert (response.status_code, response.json()) == (200, {"token": Token.objects.get(user=staff).key})
    user("visitor", staff=False)
    refused = APIClient().post(f"{API}/token/", {"username": "visitor", "password": "pw-visitor"}, format="json")
    assert refused.status_code == 403
    wrong = APIClient().post(f"{API}/token/", {"username": "ops", "password": "nope"}, format="json")
    assert wrong.status_code == 400


def test_llmsim_token_prints_a_staff_users_token(db):
    def token(*args: str) -> str:
        out = io.StringIO()
        call_command("llmsim_token", *args, stdout=out)
        return out.getvalue().strip()

    staff = user("admin")
    first = token()
    assert first == Token.objects.get(user=staff).key
    assert token("admin") == first
    assert token("--regenerate") != first
    robot = Token.objects.get(key=token("robot", "--create")).user
    assert (robot.username, robot.is_staff, robot.has_usable_password()) == ("robot", True, False)
    with pytest.raises(CommandError, match="No user 'ghost'"):
        token("ghost")
    user("visitor", staff=False)
    with pytest.raises(CommandError, match="not an active staff user"):
        token("visitor")


# --- scenarios, rules, profiles ---------------------------------------------------------


def test_scenarios_are_created_listed_read_updated_and_deleted_by_name(api):
    created = make_scenario(api, generator="fixed", fixed_text="Hi", latency_profile="instant")
    assert (created["name"], created["latency_profile"], created["rules"]) == ("checkout", "instant", [])
    make_rule(api, name="second", priority=2)
    make_rule(api, name="first", priority=1, match_last_user="pay")
    detail = api.get(f"{API}/scenarios/checkout/").json()
    assert [rule["name"] for rule in detail["rules"]] == ["first", "second"]
    assert detail["rules"][0]["match_last_user"] == "pay" and "scenario" not in detail["rules"][0]
    assert [s["name"] for s in api.get(f"{API}/scenarios").json()] == ["checkout"]  # the slash is optional
    patched = api.patch(f"{API}/scenarios/checkout/", {"target_tokens": 5, "latency_profile": None}, format="json")
    assert (patched.status_code, patched.json()["target_tokens"], patched.json()["latency_profile"]) == (200, 5, None)
    assert api.delete(f"{API}/scenarios/checkout/").status_code == 204
    assert api.get(f"{API}/scenarios/checkout/").status_code == 404
    assert not ResponseRule.objects.exists()


def test_rules_are_listed_by_scenario_updated_and_deleted(api):
    make_scenario(api, "a")
    make_scenario(api, "b")
    rule = make_rule(api, "a", "one")
    make_rule(api, "b", "two")
    assert [r["name"] for r in api.get(f"{API}/rules/", {"scenario": "b"}).json()] == ["two"]
    assert len(api.get(f"{API}/rules/").json()) == 2
    updated = api.patch(f"{API}/rules/{rule['id']}/", {"enabled": False, "scenario": "b"}, format="json")
    assert (updated.status_code, updated.json()["scenario"], updated.json()["enabled"]) == (200, "b", False)
    assert api.delete(f"{API}/rules/{rule['id']}/").status_code == 204
    assert list(ResponseRule.objects.values_list("name", flat=True)) == ["two"]


def test_model_profiles_are_found_by_model_id_dots_and_all(api):
    assert api.get(f"{API}/model-profiles/gpt-4.1/").json()["context_window"] == 1_047_576
    created = api.post(f"{API}/model-profiles/", {"model_id": "my-1.0", "ttft_mean_ms": 5}, format="json")
    assert created.status_code == 201
    assert api.patch(f"{API}/model-profiles/my-1.0/", {"tbt_mean_ms": 2}, format="json").json()["tbt_mean_ms"] == 2
    assert api.delete(f"{API}/model-profiles/my-1.0/").status_code == 204


def test_error_profiles_are_found_by_name(api):
    created = api.post(f"{API}/error-profiles/", {"name": "flaky", "rate_limit_rate": 0.5}, format="json")
    assert created.status_code == 201
    assert api.get(f"{API}/error-profiles/flaky/").json()["rate_limit_rate"] == 0.5
    make_scenario(api, error_profile="flaky")
    assert Scenario.objects.get().error_profile.name == "flaky"


def test_every_write_reloads_the_servers(api):
    before = read_version()
    make_scenario(api)
    make_rule(api)
    api.post(f"{API}/default-scenario/", {"scenario": "checkout"}, format="json")
    assert read_version() >= before + 3


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body, errors",
    [
        ("rules", {"action": {"error": {"status": 299}}}, {"action": ["action.error.status: must be one of"]}),
        ("rules", {"action": {"txt": "x"}}, {"action": ["action: unknown field 'txt'"]}),
        ("rules", {"action": {"text": "x"}, "regex": True, "match_last_user": "(x"}, {"match_last_user": ["invalid"]}),
        (
            "rules",
            {"action": {"text": "x"}, "regex": True, "match_any_message": r"(a)\1"},
            {"match_any_message": ["invalid regular expression '(a)\\\\1': backreferences such as \\1 are not"]},
        ),
        ("rules", {"action": {"text": "x"}, "scenario": "nope"}, {"scenario": ["Unknown scenario 'nope'."]}),
        ("rules", {"action": {"text": "x"}, "match_modle": "gpt-4"}, {"match_modle": ["Unknown field; known:"]}),
        ("rules", {"action": {"text": "x"}, "name": "taken"}, {"name": ["Scenario 'checkout' has a rule named"]}),
        ("rules", {}, {"action": ["This field is required."]}),
        ("scenarios", {"name": "a b"}, {"name": ["Enter a valid"]}),
        ("scenarios", {"name": "checkout"}, {"name": ["scenario with this name already exists."]}),
        ("scenarios", {"name": "a", "generator": "loud"}, {"generator": ['"loud" is not a valid choice.']}),
        ("scenarios", {"name": "a", "latency_profile": "gpt-99"}, {"latency_profile": ["Unknown model profile"]}),
        ("scenarios", {"name": "a", "tool_call_rate": 2}, {"tool_call_rate": ["Ensure this value is less than"]}),
        (
            "error-profiles",
            {"name": "e", "rate_limit_rate": 0.7, "timeout_rate": 0.7},
            {"non_field_errors": ["The rates add up to 1.4"]},
        ),
        (
            "model-profiles",
            {"model_id": "m", "context_window": 10, "max_output_tokens": 20},
            {"max_output_tokens": ["Cannot exceed the context window."]},
        ),
    ],
)
def test_invalid_writes_are_400_with_the_field_named(api, path, body, errors):
    make_scenario(api)
    make_rule(api, name="taken")
    if path == "rules":
        body = {"scenario": "checkout", "name": "new", **body}
    response = api.post(f"{API}/{path}/", body, format="json")
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert set(payload) == set(errors)
    for field, (start,) in errors.items():
        assert payload[field][0].startswith(start), payload


def test_an_invalid_update_is_400_and_changes_nothing(api):
    make_scenario(api)
    rule = make_rule(api)
    response = api.patch(f"{API}/rules/{rule['id']}/", {"action": {"sequence": []}}, format="json")
    assert (response.status_code, response.json()) == (400, {"action": ["action.sequence: needs at least one step"]})
    assert ResponseRule.objects.get().action == {"text": "hi"}


def test_a_body_that_is_not_json_is_400(api):
    response = api.post(f"{API}/scenarios/", "{nope", content_type="application/json")
    assert response.status_code == 400


# --- settings and the default scenario ----------------------------------------------------


def test_the_default_scenario_is_switched_and_cleared(api):
    make_scenario(api)
    assert api.get(f"{API}/default-scenario/").json() == {"scenario": None}
    switched = api.post(f"{API}/default-scenario/", {"scenario": "checkout"}, format="json")
    assert (switched.status_code, switched.json()) == (200, {"scenario": "checkout"})
    assert SimulatorSettings.load().default_scenario.name == "checkout"
    assert api.put(f"{API}/default-scenario/", {"scenario": None}, format="json").json() == {"scenario": None}
    assert SimulatorSettings.load().default_scenario is None
    unknown = api.post(f"{API}/default-scenario/", {"scenario": "nope"}, format="json")
    assert (unknown.status_code, unknown.json()) == (400, {"scenario": ["Unknown scenario 'nope'."]})


def test_the_settings_are_read_and_patched(api):
    make_scenario(api)
    assert api.get(f"{API}/settings/").json()["generator"] == "lorem"
    patched = api.patch(f"{API}/settings/", {"generator": "echo", "default_scenario": "checkout"}, format="json")
    assert (patched.json()["generator"], patched.json()["default_scenario"]) == ("echo", "checkout")
    assert api.patch(f"{API}/settings/", {"target_tokens": 0}, format="json").status_code == 400


# --- resets -----------------------------------------------------------------------------


def two_step_rule() -> tuple[Rule, CompletionRequest]:
    steps, scope, exhausted = parse_action({"sequence": [{"text": "first"}, {"text": "second"}]})
    rule = Rule(name="seq", match=Match(), steps=steps, scope=scope, when_exhausted=exhausted, id=999_001)
    return rule, CompletionRequest(model="gpt-4o", messages=(Message("user", "hi"),))


def test_reset_sequences_restarts_them_here_and_counts_the_reset(api):
    rule, request = two_step_rule()
    assert [local_sequences.next_action(rule, request, RequestFacts()).text for _ in range(2)] == ["first", "second"]
    response = api.post(f"{API}/reset-sequences/")
    assert response.status_code == 200
    assert response.json()["sequence_resets"] == SnapshotVersion.objects.get(pk=1).sequence_resets >= 1
    assert local_sequences.next_action(rule, request, RequestFacts()).text == "first"


def test_a_process_resets_when_another_one_counted_a_reset(db):
    """What each process's snapshot poller does when a reset went through another process."""
    rule, request = two_step_rule()
    refresh()
    local_sequences.next_action(rule, request, RequestFacts())
    refresh()  # nothing new: the position stays
    assert local_sequences.next_action(rule, request, RequestFacts()).text == "second"
    SnapshotVersion.objects.filter(pk=1).update(sequence_resets=F("sequence_resets") + 1)
    refresh()
    assert local_sequences.next_action(rule, request, RequestFacts()).text == "first"


def test_reset_rate_limits_refills_the_buckets(api, settings):
    from simulator.engine.ratelimit import RateLimit

    settings.REDIS_URL = ""
    buckets.in_process.take("k", RateLimit(1, None), 0, time.monotonic())
    response = api.post(f"{API}/reset-rate-limits/")
    assert (response.status_code, response.json()) == (200, {"buckets_reset": 1})
    assert SnapshotVersion.objects.get(pk=1).rate_limit_resets >= 1


def test_reset_rate_limits_empties_the_buckets_shared_in_redis(api, settings):
    from simulator.engine.ratelimit import RateLimit
    from tests.services import redis_url, unique_prefix

    settings.REDIS_URL = redis_url()
    settings.LLMSIM_REDIS_PREFIX = unique_prefix()

    async def take_one():
        try:
            await buckets.acquire("k", RateLimit(1, None), 0)
        finally:
            await buckets.close()

    asyncio.run(take_one())
    response = api.post(f"{API}/reset-rate-limits/")
    assert (response.status_code, response.json()) == (200, {"buckets_reset": 1})


def test_reset_rate_limits_is_503_when_redis_does_not_answer(api, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = api.post(f"{API}/reset-rate-limits/")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The rate limits in Redis could not be reset: ")


def test_reset_sequences_is_503_when_redis_does_not_answer(api, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = api.post(f"{API}/reset-sequences/")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The sequence positions in Redis could not be reset: ")


# --- export and import ----------------------------------------------------------------------


def test_export_is_yaml_or_json(api):
    make_scenario(api, generator="echo")
    as_yaml = api.get(f"{API}/export/")
    assert as_yaml["Content-Type"].startswith("application/yaml")
    data = yaml.safe_load(as_yaml.content)
    assert data["scenarios"][0]["generator"] == "echo"
    as_json = api.get(f"{API}/export/", {"format": "json"})
    assert as_json["Content-Type"] == "application/json"
    assert json.loads(as_json.content) == data


def test_import_takes_yaml_and_reports_what_it_did(api):
    body = "mocks: [{match: hi, response: hello}]\n"
    response = api.post(f"{API}/import/?dry_run=1", body, content_type="application/yaml")
    assert (response.json()["created"], response.json()["updated"]) == ({"scenario": 1, "rule": 1}, {"settings": 1})
    assert response.json()["dry_run"] is True and not Scenario.objects.exists()
    response = api.post(f"{API}/import/", body, content_type="application/yaml")
    assert response.status_code == 200 and not response.json()["dry_run"]
    assert SimulatorSettings.load().default_scenario.name == "mocks"
    replaced = api.post(
        f"{API}/import/?replace=true", '{"scenarios": [{"name": "only"}]}', content_type="application/json"
    )
    assert replaced.json()["deleted"] == {"scenario": 1, "rule": 1}


def test_a_bad_import_is_400_naming_the_place(api):
    response = api.post(f"{API}/import/", "scenarios: [{name: a, colour: red}]", content_type="application/yaml")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("body: scenarios[0]: unknown field 'colour'")


def test_the_root_lists_the_endpoints(api):
    root = api.get(f"{API}/").json()
    assert root["scenarios"] == "http://testserver/llmsim/api/scenarios"
    assert root["reset_sequences"] == "http://testserver/llmsim/api/reset-sequences"


def test_the_browsable_api_renders_for_an_admin(api):
    make_scenario(api)
    make_rule(api)
    for path in ("", "scenarios/", "scenarios/checkout/", "rules/", "settings/", "default-scenario/"):
        response = api.get(f"{API}/{path}", HTTP_ACCEPT="text/html")
        assert (response.status_code, response["Content-Type"]) == (200, "text/html; charset=utf-8"), path


# --- a live server --------------------------------------------------------------------------


@pytest.fixture
def live_token(live_db) -> str:
    staff, _ = get_user_model().objects.db_manager(live_db).get_or_create(username="ci", defaults={"is_staff": True})
    return Token.objects.using(live_db).get_or_create(user=staff)[0].key


def call(server, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict | None]:
    request = urllib.request.Request(
        f"{server.base_url}{API}/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def ask(server, scenario: str, text: str = "hello") -> str:
    with openai.OpenAI(
        base_url=f"{server.base_url}/v1",
        api_key="test",
        max_retries=0,
        default_headers={**INSTANT, "x-llmsim-scenario": scenario},
    ) as sdk:
        answer = sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content


@pytest.fixture
def live_scenario(llmsim_server, live_token):
    """Create scenarios through the live server's API; they are deleted after the test."""
    created = []

    def make(name: str, **fields) -> str:
        status, body = call(llmsim_server, "POST", "scenarios/", live_token, {"name": name, **fields})
        assert status == 201, body
        created.append(name)
        return name

    yield make
    for name in created:
        call(llmsim_server, "DELETE", f"scenarios/{name}/", live_token)


@pytest.mark.live
def test_a_scenario_made_through_the_api_answers_within_a_second(llmsim_server, live_token, live_scenario):
    started = time.monotonic()
    name = live_scenario("made-by-api", generator="fixed", fixed_text="Made through the API.")
    while True:
        try:
            answer = ask(llmsim_server, name)
            break
        except openai.BadRequestError:  # unknown scenario: this process has not reloaded yet
            assert time.monotonic() - started < 1.0, "the server did not serve the new scenario within a second"
            time.sleep(0.02)
    assert answer == "Made through the API."
    status, _ = call(
        llmsim_server, "POST", "rules/", live_token, {"scenario": name, "name": "r", "action": {"text": "A rule."}}
    )
    assert status == 201
    started = time.monotonic()
    while (answer := ask(llmsim_server, name)) != "A rule.":
        assert time.monotonic() - started < 1.0, f"still {answer!r} a second after the rule was made"
        time.sleep(0.02)


@pytest.mark.live
def test_reset_sequences_restarts_a_sequence_on_the_live_server(llmsim_server, live_db, live_token, live_scenario):
    name = live_scenario("sequence-reset")
    action = {"sequence": [{"text": "first"}, {"text": "second"}]}
    assert (
        call(llmsim_server, "POST", "rules/", live_token, {"scenario": name, "name": "s", "action": action})[0] == 201
    )
    llmsim_server.wait_for_version(read_version(live_db))
    assert [ask(llmsim_server, name) for _ in range(3)] == ["first", "second", "second"]
    status, body = call(llmsim_server, "POST", "reset-sequences/", live_token)
    assert status == 200 and body["sequence_resets"] >= 1
    assert [ask(llmsim_server, name) for _ in range(2)] == ["first", "second"]
    # A reset counted by another process (one that took the API call) reaches this one too.
    SnapshotVersion.objects.using(live_db).filter(pk=1).update(sequence_resets=F("sequence_resets") + 1)
    started = time.monotonic()
    while ask(llmsim_server, name) != "first":
        assert time.monotonic() - started < 1.0, "the server did not notice the reset within a second"
