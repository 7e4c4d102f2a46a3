"""Checks of how the peers are set up (bench/peers.py), without npm, network or the peers.

Their fixtures must put the scenario's schedule on the wire as each peer reads it, and a
peer that cannot be installed must be skipped with its reason, not end the run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import peers
import pytest
import run
from peers import Schedule
from report import markdown_section, table_rows
from test_bench import throughput

STREAM = Schedule(tokens=100, ttft_ms=200.0, tbt_ms=20.0, stream=True)


def aimock_content_times(entry: dict[str, Any]) -> list[tuple[float, str]]:
    """When aimock sends each content chunk, replaying its rule: a role chunk, the text cut
    every `chunkSize` characters, a finish chunk; the first waits `ttft`, each later one 1000 / `tps`."""
    text, size = entry["response"]["content"], entry["chunkSize"]
    profile = entry["streamingProfile"]
    pieces = [text[at : at + size] for at in range(0, len(text), size)]
    return [(profile["ttft"] + (index + 1) * 1000.0 / profile["tps"], piece) for index, piece in enumerate(pieces)]


def test_aimock_fixture_answers_anything_on_the_scenario_schedule() -> None:
    (entry,) = peers.aimock_fixture(STREAM)["fixtures"]
    assert entry["match"] == {}  # a catch-all
    times = aimock_content_times(entry)
    assert len(times) == 100
    assert {piece for _, piece in times} == {peers.TOKEN}
    assert times[0][0] == pytest.approx(200.0)
    assert times[-1][0] == pytest.approx(200.0 + 99 * 20.0)


def test_non_streaming_fixtures_answer_the_throughput_tokens() -> None:
    (entry,) = peers.aimock_fixture(Schedule(tokens=20))["fixtures"]
    assert "streamingProfile" not in entry
    assert entry["response"]["content"].split() == ["word"] * 20
    (rule,) = peers.fakellm_config(Schedule(tokens=20))["rules"]
    assert "when" not in rule  # fakellm: a rule without conditions matches every request
    assert rule["respond"]["content"].split(" ") == ["word"] * 20


def test_fixture_files_and_commands(tmp_path: Path) -> None:
    fixture = peers.write_fixture("aimock", STREAM, tmp_path)
    assert json.loads(fixture.read_text()) == peers.aimock_fixture(STREAM)
    command = peers.peer_command("aimock", 4010, fixture, "127.0.0.1", tmp_path)
    assert command[0] == str(tmp_path / "aimock" / "node_modules" / ".bin" / "llmock")
    assert command[command.index("--port") + 1] == "4010"
    assert command[command.index("--fixtures") + 1] == str(fixture)
    config = peers.write_fixture("fakellm", Schedule(tokens=20), tmp_path)
    command = peers.peer_command("fakellm", 4011, config, "127.0.0.1", tmp_path)
    assert command[:3] == [str(peers.fakellm_python(tmp_path)), str(tmp_path / "fakellm" / "bin" / "fakellm"), "serve"]
    assert command[command.index("--config") + 1] == str(config)


def test_a_peer_that_cannot_be_installed_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    ready, skipped = peers.prepare(("serve", "aimock"), tmp_path)
    assert ready == {}
    assert skipped == {"aimock": "aimock needs node and npm on the PATH"}


def test_an_installed_peer_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "aimock" / "node_modules" / peers.AIMOCK_PACKAGE / "package.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"version": peers.AIMOCK_VERSION}))

    def no_commands(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing to install")

    monkeypatch.setattr(peers.subprocess, "run", no_commands)
    monkeypatch.setattr(peers, "runtime", lambda kind: "Node v20")
    assert peers.prepare(("aimock",), tmp_path) == ({"aimock": f"{peers.AIMOCK_VERSION} (Node v20)"}, {})


def test_which_servers_and_scenarios_run() -> None:
    assert run.server_kinds(run.parse_args(["--all"])) == ("serve", "runserver", "reference", "aimock", "fakellm")
    assert run.server_kinds(run.parse_args(["--server", "serve", "--peers", "aimock"])) == ("serve", "aimock")
    with pytest.raises(SystemExit):
        run.parse_args(["--peers", "wiremock"])
    throughput, streams = run.Scenario("throughput"), run.Scenario("streams_1000", 1000)
    assert streams.schedule == STREAM and throughput.schedule == Schedule(tokens=20)
    assert run.scenario_skip_reason("fakellm", throughput) is None
    assert "10 ms per word" in (run.scenario_skip_reason("fakellm", streams) or "")
    assert run.scenario_skip_reason("aimock", streams) is None


def test_table_compares_serve_with_each_peer() -> None:
    results = {
        "serve": {"throughput": throughput(6000)},
        "reference": {"throughput": throughput(12000)},
        "aimock": {"throughput": throughput(4000)},
        "fakellm": {},
    }
    header, rows = table_rows(results)
    assert header[5:] == [
        "serve ÷ reference",
        "aimock ÷ reference",
        "fakellm ÷ reference",
        "serve ÷ aimock",
        "serve ÷ fakellm",
    ]
    assert ["requests/s", "6000", "12000", "4000", "—", "0.50x", "0.33x", "—", "1.50x", "—"] in rows
    setup = {
        "command": "python bench/run.py --all",
        "pinning": "server on CPU 0",
        "processes": {},
        "peers": {"aimock": "1.43.0"},
        "skipped": {"fakellm": "pip install failed"},
    }
    machine = {"date": "today", "revision": "abc", "cpu_model": "cpu", "cpus": 2, "kernel": "6", "python": "3.11"}
    section = markdown_section(results, {**machine, "packages": {}}, setup)
    assert "- Peers (installed into bench/.peers/ by the run): aimock 1.43.0" in section
    assert "- Skipped: fakellm (pip install failed)" in section


def test_a_failed_install_is_a_skip_that_quotes_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = "WARNING: Location x is ignored\nERROR: No matching distribution found for fakellm==0.3.5\n"

    def failing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, stdout="", stderr=output)

    monkeypatch.setattr(peers.subprocess, "run", failing)
    ready, skipped = peers.prepare(("fakellm",), tmp_path)
    assert ready == {}
    assert skipped["fakellm"] == "python -m venv failed (1): ERROR: No matching distribution found for fakellm==0.3.5"
