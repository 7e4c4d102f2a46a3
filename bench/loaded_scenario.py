"""A scenario that makes every request pay for scenarios: ten response rules and rate limits.

Issue 5 asks that a scenario of ten rules with rate limits on keeps the benchmark's
figures within 10 % of what they are without. `install()` writes such a scenario into
a database and makes it the default, so the bench's own requests (model `instant`,
"hi") walk all ten rules without matching any, and take from generous rate-limit
buckets, which then add their headers to every answer.

    DATABASE_URL=sqlite:///path.sqlite3 python bench/loaded_scenario.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NAME = "bench-loaded"

# Each checks something the bench request has, and fails on the last matcher.
RULES = [
    {"match_model": "gpt-4*"},
    {"match_last_user": "weather"},
    {"match_last_user": r"order #\d+", "regex": True},
    {"match_any_message": "refund"},
    {"match_system": "pirate"},
    {"match_tools_present": True},
    {"match_tool_offered": "get_weather"},
    {"match_last_is_tool_result": True},
    {"match_header": "x-test-case: checkout-*"},
    {"match_model": "instant", "match_api_key": "sk-someone-else"},
]


def install() -> None:
    """Create (or refresh) the loaded scenario and make it the default."""
    from simulator.models import ResponseRule, Scenario, SimulatorSettings

    Scenario.objects.filter(name=NAME).delete()
    scenario = Scenario.objects.create(name=NAME, requests_per_minute=1_000_000_000, tokens_per_minute=2_000_000_000)
    for priority, matchers in enumerate(RULES):
        rule = ResponseRule(
            scenario=scenario, name=f"rule-{priority}", priority=priority, action={"text": "x"}, **matchers
        )
        rule.full_clean()
        rule.save()
    settings = SimulatorSettings.load()
    settings.default_scenario = scenario
    settings.save()


if __name__ == "__main__":
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmsim_project.settings")
    import django

    django.setup()
    install()
    print(f"scenario {NAME!r} with {len(RULES)} rules and rate limits is now the default")
