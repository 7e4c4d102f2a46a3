"""Ready-made error profiles and example scenarios, so that a fresh install has some to try.

None of them is the default: requests get them only when they name a scenario in
x-llmsim-scenario (or after someone picks one in the admin), so a fresh install
answers as before. All are ordinary rows, to edit or delete in the admin.

A row whose name exists already (made by someone before this migration ran) is left
as it is, and ours is not created. Backwards, only rows that still carry the
description shipped here are deleted: someone's own row of that name stays.
"""

from django.db import migrations

ERROR_PROFILES = [
    {
        "name": "flaky",
        "description": "A healthy but imperfect upstream: 2 % of requests answered 500, 1 % 503 with a "
        "retry-after of 1 s, 1 % held for 10 s and then answered 504.",
        "server_error_rate": 0.02,
        "service_unavailable_rate": 0.01,
        "timeout_rate": 0.01,
        "timeout_after_ms": 10_000,
        "retry_after_ms": 1000,
    },
    {
        "name": "overloaded",
        "description": "An upstream at capacity: 30 % of requests answered 503 (overloaded) with a retry-after "
        "of 2 s, 5 % held for 30 s and then answered 504; 10 % of streamed answers stall for 3 s after 5 "
        "tokens. (For Anthropic's 529 overloaded_error, add a response rule: {\"error\": 529}.)",
        "service_unavailable_rate": 0.3,
        "timeout_rate": 0.05,
        "timeout_after_ms": 30_000,
        "retry_after_ms": 2000,
        "stall_rate": 0.1,
        "fault_after_tokens": 5,
        "stall_ms": 3000,
    },
    {
        "name": "rate-limited",
        "description": "A spent rate limit: 30 % of requests answered 429 with retry-after (2 s), retry-after-ms "
        "and the rate-limit headers saying 0 remaining, as the providers do, so that SDK retries and client "
        "backoff get exercised.",
        "rate_limit_rate": 0.3,
        "retry_after_ms": 2000,
    },
    {
        "name": "chaos",
        "description": "Everything at once, for resilience tests: 5 % each of 429 (retry-after 0.5 s), 500, 503 "
        "and timeouts (the connection dropped after 5 s without an answer); of the streamed answers, 5 % each "
        "cut off (connection dropped), broken by an error event, or stalled for 5 s, after 5 tokens.",
        "rate_limit_rate": 0.05,
        "server_error_rate": 0.05,
        "service_unavailable_rate": 0.05,
        "timeout_rate": 0.05,
        "timeout_after_ms": 5000,
        "timeout_action": "disconnect",
        "retry_after_ms": 500,
        "disconnect_rate": 0.05,
        "stream_error_rate": 0.05,
        "stall_rate": 0.05,
        "fault_after_tokens": 5,
        "stall_ms": 5000,
    },
]

SCENARIOS = [
    {
        "name": "agent-loop",
        "description": "A scripted agent loop for a client that offers a get_weather tool: a user turn gets a "
        "get_weather call for Paris, the turn after the tool result a text answer naming the result. Other "
        "requests are answered as usual.",
        "rules": [
            {
                "name": "answer-after-the-tool-result",
                "priority": 10,
                "match_last_is_tool_result": True,
                "action": {"text": "get_weather says it is sunny and 22 °C in Paris."},
            },
            {
                "name": "call-get-weather",
                "priority": 20,
                "match_tool_offered": "get_weather",
                "match_last_is_tool_result": False,
                "action": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
            },
        ],
    },
    {
        "name": "fail-twice",
        "description": "Every conversation is refused twice with 429 (retry-after 0.2 s) and then answered: "
        "an SDK with two retries or more gets its answer on its own.",
        "rules": [
            {
                "name": "429-twice-then-answer",
                "priority": 10,
                "action": {
                    "sequence": [{"error": {"status": 429, "retry_after_ms": 200}, "times": 2}, {"generate": True}],
                    "scope": "conversation",
                    "when_exhausted": "repeat_last",
                },
            },
        ],
    },
    {
        "name": "flaky-upstream",
        "description": "Answers as usual, with the flaky error profile: a few percent of 500s, 503s and timeouts.",
        "error_profile": "flaky",
        "rules": [],
    },
    {
        "name": "tier-1-enforced",
        "description": "The model profiles' default rate limits (the providers' Tier 1) enforced: a request "
        "beyond a key's per-minute budget for a model is answered 429 with retry-after, as by the real API.",
        "enforce_model_rate_limits": True,
        "rules": [],
    },
]


def _bump_version(apps, db):
    # Historical models send no signals: announce the new data to running servers.
    SnapshotVersion = apps.get_model("simulator", "SnapshotVersion")
    version, _ = SnapshotVersion.objects.using(db).get_or_create(pk=1)
    version.version += 1
    version.save()


def create_examples(apps, schema_editor):
    ErrorProfile = apps.get_model("simulator", "ErrorProfile")
    Scenario = apps.get_model("simulator", "Scenario")
    ResponseRule = apps.get_model("simulator", "ResponseRule")
    db = schema_editor.connection.alias
    for fields in ERROR_PROFILES:
        if not ErrorProfile.objects.using(db).filter(name=fields["name"]).exists():
            ErrorProfile.objects.using(db).create(**fields)
    for spec in SCENARIOS:
        fields = {key: value for key, value in spec.items() if key not in ("rules", "error_profile")}
        if Scenario.objects.using(db).filter(name=fields["name"]).exists():
            continue
        if "error_profile" in spec:  # whichever profile has that name, ours or one made before
            fields["error_profile"] = ErrorProfile.objects.using(db).filter(name=spec["error_profile"]).first()
        scenario = Scenario.objects.using(db).create(**fields)
        for rule in spec["rules"]:
            ResponseRule.objects.using(db).create(scenario=scenario, **rule)
    _bump_version(apps, db)


def remove_examples(apps, schema_editor):
    ErrorProfile = apps.get_model("simulator", "ErrorProfile")
    Scenario = apps.get_model("simulator", "Scenario")
    db = schema_editor.connection.alias
    for spec in SCENARIOS:  # their rules go with them
        Scenario.objects.using(db).filter(name=spec["name"], description=spec["description"]).delete()
    for fields in ERROR_PROFILES:
        ErrorProfile.objects.using(db).filter(name=fields["name"], description=fields["description"]).delete()
    _bump_version(apps, db)


class Migration(migrations.Migration):
    dependencies = [("simulator", "0012_default_rate_limits")]
    operations = [migrations.RunPython(create_examples, remove_examples)]
