"""The landing page and the admin in headless Chromium at 1,400 px: nothing is wider
than the window, list rows are one line high, and a scenario with three rules is a
page, not a scroll. The screenshots land in test-artifacts/ (scripts/screenshots).

Needs Debian's chromium and the playwright package (tests/browser.py).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest

from tests.admin_login import PASSWORD, create_admin
from tests.browser import ARTIFACTS, chromium
from tests.conftest import LiveServer, start_server, stop_server

pytestmark = pytest.mark.live

WIDTH, HEIGHT = 1400, 900
# A list row of one line of text is about 34 px high; two lines, about 50.
ONE_LINE_ROW_PX = 44
# With every rule's full form inlined, three rules made a 5,800 px page.
SCENARIO_PAGE_MAX_PX = 2400
SCREENSHOTS = {
    "landing": "landing.png",
    "model profiles": "admin-model-profiles.png",
    "scenario": "admin-scenario-three-rules.png",
}
OVERFLOW_JS = """() => {
    const wider = [...document.querySelectorAll('.results, #rules-group table, pre')]
        .filter(element => element.scrollWidth > element.clientWidth + 1)
        .map(element => element.className || element.tagName);
    return {page: document.documentElement.scrollWidth, window: window.innerWidth, wider};
}"""
ROW_HEIGHTS_JS = "selector => [...document.querySelectorAll(selector)].map(row => row.getBoundingClientRect().height)"


def add_scenario_with_three_rules(server: LiveServer) -> int:
    """A scenario of the kind people write (a tool call, a sequence of errors, a long
    text), in the live server's database; returns its id."""

    def create() -> int:
        from django.db import connections

        from simulator.models import ResponseRule, Scenario

        try:
            scenario = Scenario.objects.db_manager(server.db_alias).create(
                name="checkout-flow", description="Scripted answers for the checkout agent's load test"
            )
            rules = [
                dict(
                    name="refund-tool",
                    match_last_user="refund",
                    match_tools_present=True,
                    action={"tool_calls": [{"name": "issue_refund", "arguments": {"order_id": "A-1001"}}]},
                ),
                dict(
                    name="flaky-then-ok",
                    match_model="gpt-4*",
                    action={
                        "sequence": [
                            {"error": {"status": 429, "retry_after_ms": 1000}, "times": 2},
                            {"generate": True},
                        ],
                        "scope": "conversation",
                        "when_exhausted": "repeat_last",
                    },
                ),
                dict(
                    name="greeting",
                    match_any_message="hello",
                    match_header="x-tenant: acme",
                    action={"text": "Hello from the simulated checkout assistant! How can I help you today?"},
                ),
            ]
            for priority, fields in enumerate(rules, start=1):
                ResponseRule.objects.db_manager(server.db_alias).create(
                    scenario=scenario, priority=10 * priority, **fields
                )
            return scenario.pk
        finally:
            connections[server.db_alias].close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright runs an event loop in this thread
        return pool.submit(create).result()


@pytest.fixture(scope="module")
def site(tmp_path_factory, django_db_blocker) -> Iterator[tuple[LiveServer, int]]:
    """A server of its own (runserver), with an admin login and a scenario of three rules."""
    server = start_server(tmp_path_factory.mktemp("site-browser"), "runserver")
    server.db_alias = "live_site_browser"  # not the session's runserver's alias
    try:
        create_admin(f"sqlite:///{server.db_path}", "shots")
        from django.db import connections

        connections.settings[server.db_alias] = {**connections.settings["default"], "NAME": str(server.db_path)}
        with django_db_blocker.unblock():
            scenario_id = add_scenario_with_three_rules(server)
        yield server, scenario_id
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def page(site):
    """A logged-in admin's browser page, 1,400 px wide."""
    server, _ = site
    with chromium() as browser:
        context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        tab = context.new_page()
        tab.goto(f"{server.base_url}/admin/login/?next=/admin/")
        tab.fill("#id_username", "shots")
        tab.fill("#id_password", PASSWORD)
        tab.click("input[type=submit]")
        tab.wait_for_url("**/admin/")
        yield tab
        context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / SCREENSHOTS[name]), full_page=True)


def assert_nothing_overflows(page) -> None:
    overflow = page.evaluate(OVERFLOW_JS)
    assert overflow["page"] <= overflow["window"], overflow
    assert overflow["wider"] == [], overflow


def test_the_landing_page_fits_the_window_and_shows_every_address(page, site):
    server, _ = site
    page.goto(f"{server.base_url}/")
    assert page.inner_text("#base-urls").count("127.0.0.1") == 3
    assert page.locator("a[href$='/admin/']").count() == 1
    assert_nothing_overflows(page)
    screenshot(page, "landing")


def test_the_model_profile_list_fits_with_rows_one_line_high(page, site):
    server, _ = site
    page.goto(f"{server.base_url}/admin/simulator/modelprofile/")
    heights = page.evaluate(ROW_HEIGHTS_JS, "#result_list tbody tr")
    assert len(heights) >= 15  # the presets
    assert max(heights) <= ONE_LINE_ROW_PX, heights
    assert_nothing_overflows(page)
    screenshot(page, "model profiles")


def test_a_scenario_with_three_rules_is_a_short_page_with_one_line_per_rule(page, site):
    server, scenario_id = site
    page.goto(f"{server.base_url}/admin/simulator/scenario/{scenario_id}/change/")
    heights = page.evaluate(ROW_HEIGHTS_JS, "#rules-group tbody tr.form-row")
    assert len(heights) == 3
    assert max(heights) <= ONE_LINE_ROW_PX + 10, heights  # a row holds inputs: a little taller than text
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= SCENARIO_PAGE_MAX_PX
    assert_nothing_overflows(page)
    screenshot(page, "scenario")
