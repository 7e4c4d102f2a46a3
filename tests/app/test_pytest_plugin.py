"""The pytest plugin: a separate project whose tests use the `llmsim_server` fixture, run with
the python of a fresh venv that has the wheel installed (tests/app/installed.py) and nothing
else of this checkout: the fixture comes from the package's pytest11 entry point alone."""

from __future__ import annotations

import subprocess
import textwrap
import zipfile

import pytest

from tests.app import installed
from tests.app.installed import clean_env

pytestmark = pytest.mark.live

# A user's test file, as docs/testing-with-llmsim.md shows it.
USER_TESTS = '''
import openai

SCENARIO = """
scenarios:
  - name: support-bot
    rules:
      - name: always-sorry
        action: {text: "Sorry, the shop is closed today."}
"""


def client(llmsim_server):
    return openai.OpenAI(base_url=llmsim_server.openai_base_url, api_key="test", max_retries=0)


def ask(llmsim_server, **headers):
    answer = client(llmsim_server).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Are you open?"}],
        extra_headers={"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0", **headers},
    )
    return answer.choices[0].message.content


def test_a_chat_completion_is_answered(llmsim_server):
    assert llmsim_server.url.startswith("http://127.0.0.1:")
    assert ask(llmsim_server)


def test_a_loaded_scenario_answers_its_rule_text(llmsim_server, tmp_path):
    result = llmsim_server.load(SCENARIO)
    assert result["created"] == {"scenario": 1, "rule": 1}
    assert ask(llmsim_server, **{"x-llmsim-scenario": "support-bot"}) == "Sorry, the shop is closed today."
    assert ask(llmsim_server) != "Sorry, the shop is closed today."  # other requests keep the default
    path = tmp_path / "mocks.yaml"
    path.write_text("mocks:\\n  - match: {content_contains: open}\\n    response: {content: Open all day.}\\n")
    llmsim_server.load(path)
    assert ask(llmsim_server, **{"x-llmsim-scenario": "mocks"}) == "Open all day."


def test_reset_restarts_the_counters_and_stats_counts_requests(llmsim_server):
    ask(llmsim_server)
    llmsim_server.reset()
    assert llmsim_server.stats()["requests"]["total"] == 0
    ask(llmsim_server)
    ask(llmsim_server)
    stats = llmsim_server.stats()
    assert stats["requests"]["total"] == 2
    assert stats["requests"]["by_model"] == {"gpt-4o": 2}
'''


def test_the_wheel_registers_the_plugin_under_pytest11(tmp_path_factory):
    entry_points = zipfile.ZipFile(installed.wheel(tmp_path_factory)).read("llmsim-0.1.0.dist-info/entry_points.txt")
    assert "[pytest11]\nllmsim = llmsim_project.pytest_plugin" in entry_points.decode()


def test_a_project_that_installs_llmsim_gets_a_live_server_fixture_in_its_tests(tmp_path_factory, tmp_path):
    venv = installed.venv(tmp_path_factory)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_it.py").write_text(textwrap.dedent(USER_TESTS))
    result = subprocess.run(
        [venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        env=clean_env(HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
