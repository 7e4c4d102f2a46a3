"""Peers: other mock LLM servers, measured in the same run and by the same client as LLMSim.

Each is installed by the benchmark itself into bench/.peers/ (git-ignored), never into
the project's requirements, at a pinned version, and reused while that version is there:

* `aimock`: npm `@copilotkit/aimock` (TypeScript on Node), its `llmock` command with a
  fixture file. Streaming follows the fixture's `streamingProfile`: the first chunk
  (the role chunk) waits `ttft` ms, every later one 1000 / `tps` ms, and the text is cut
  into chunks of `chunkSize` characters.
* `fakellm`: PyPI `fakellm` (FastAPI under uvicorn) in a virtualenv of its own, started as
  `fakellm serve --config FILE`. Its streams cannot follow a schedule (one chunk per
  word, 10 ms apart, no first-token delay), so it runs the throughput scenario only.

Both answer every chat request from a catch-all entry of a fixture written for the
scenario, since neither reads LLMSim's `x-llmsim-*` pacing headers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"
PEER_KINDS = ("aimock", "fakellm")
AIMOCK_PACKAGE = "@copilotkit/aimock"
AIMOCK_VERSION = "1.43.0"
AIMOCK_MIN_NODE = 20  # its package.json: node >= 20.15
FAKELLM_VERSION = "0.3.5"
INSTALL_TIMEOUT_S = 600.0
# One token per chunk: aimock cuts the text every len(TOKEN) characters, and fakellm
# (non-streaming here) gets the same text, so every server answers about as many bytes.
TOKEN = "word "
HEALTH_PATHS = {"aimock": "/health", "fakellm": "/_fakellm/stats"}
NO_STREAMS = {
    "fakellm": "its streams are paced by a fixed 10 ms per word with no first-token delay, not by a schedule",
}


class PeerUnavailable(Exception):
    """A peer could not be installed or run here; the message says why."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """What a scenario asks of every answer: `tokens` content chunks; when streamed,
    the first after `ttft_ms` and one every `tbt_ms` after it."""

    tokens: int
    ttft_ms: float = 0.0
    tbt_ms: float = 0.0
    stream: bool = False


def streams_skip_reason(kind: str) -> str | None:
    return NO_STREAMS.get(kind)


# --- fixtures -----------------------------------------------------------------------


def answer_text(schedule: Schedule) -> str:
    return TOKEN * schedule.tokens


def aimock_fixture(schedule: Schedule) -> dict:
    entry: dict = {"match": {}, "response": {"content": answer_text(schedule)}, "chunkSize": len(TOKEN)}
    if schedule.stream:
        # aimock's first chunk is the role chunk and the first content chunk comes one
        # gap after it: starting the role chunk a gap early puts the first token at TTFT.
        profile: dict = {"ttft": max(0.0, schedule.ttft_ms - schedule.tbt_ms)}
        if schedule.tbt_ms > 0:
            profile["tps"] = 1000.0 / schedule.tbt_ms
        entry["streamingProfile"] = profile
    return {"fixtures": [entry]}


def fakellm_config(schedule: Schedule) -> dict:
    # A rule without `when` matches every request. JSON is YAML, which fakellm reads.
    return {"version": 1, "rules": [{"name": "bench", "respond": {"content": answer_text(schedule).rstrip()}}]}


def write_fixture(kind: str, schedule: Schedule, workdir: Path) -> Path:
    if kind == "aimock":
        path, content = workdir / "aimock-fixture.json", aimock_fixture(schedule)
    elif kind == "fakellm":
        path, content = workdir / "fakellm.yaml", fakellm_config(schedule)
    else:
        raise ValueError(f"unknown peer {kind!r}")
    path.write_text(json.dumps(content, indent=1) + "\n")
    return path


# --- installing and starting --------------------------------------------------------


def aimock_dir(root: Path) -> Path:
    return root / "aimock"


def fakellm_python(root: Path) -> Path:
    return root / "fakellm" / "bin" / "python"


def peer_command(kind: str, port: int, fixture: Path, host: str, root: Path = PEERS_DIR) -> list[str]:
    if kind == "aimock":
        cli = aimock_dir(root) / "node_modules" / ".bin" / "llmock"
        return [str(cli), "--host", host, "--port", str(port), "--fixtures", str(fixture), "--log-level", "warn"]
    if kind == "fakellm":
        # Its console script run by the virtualenv's interpreter, not through its #! line,
        # which names the path the virtualenv was made at (wrong once it was moved or copied).
        python = fakellm_python(root)
        cli = python.parent / "fakellm"
        return [str(python), str(cli), "serve", "--host", host, "--port", str(port), "--config", str(fixture)]
    raise ValueError(f"unknown peer {kind!r}")


def installed_version(kind: str, root: Path = PEERS_DIR) -> str | None:
    """The version of the peer in `root`, or None if it is not there."""
    if kind == "aimock":
        manifest = aimock_dir(root) / "node_modules" / AIMOCK_PACKAGE / "package.json"
        try:
            return json.loads(manifest.read_text()).get("version")
        except (OSError, ValueError):
            return None
    python = fakellm_python(root)
    if not python.exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('fakellm'))"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        raise PeerUnavailable(f"{what} failed ({done.returncode}): {error_summary(done.stderr or done.stdout)}")


def error_summary(output: str) -> str:
    """The first few lines that say "error" (npm and pip print warnings and advice around them)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return " / ".join((errors or lines[-3:])[:3])


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True)
    try:
        return int(done.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def install(kind: str, root: Path = PEERS_DIR) -> str:
    """Install the peer's pinned version into `root` unless it is there; its version, or PeerUnavailable."""
    wanted = AIMOCK_VERSION if kind == "aimock" else FAKELLM_VERSION
    if installed_version(kind, root) == wanted:
        return wanted
    if kind == "aimock":
        major = node_major()
        if major is None or shutil.which("npm") is None:
            raise PeerUnavailable("aimock needs node and npm on the PATH")
        if major < AIMOCK_MIN_NODE:
            raise PeerUnavailable(f"aimock needs Node {AIMOCK_MIN_NODE}+, this is Node {major}")
        aimock_dir(root).mkdir(parents=True, exist_ok=True)
        npm = [shutil.which("npm") or "npm", "install", "--prefix", str(aimock_dir(root))]
        _run([*npm, "--no-audit", "--no-fund", f"{AIMOCK_PACKAGE}@{AIMOCK_VERSION}"], "npm install")
    elif kind == "fakellm":
        _run([sys.executable, "-m", "venv", "--clear", str(root / "fakellm")], "python -m venv")
        _run([str(fakellm_python(root)), "-m", "pip", "install", "--quiet", f"fakellm=={wanted}"], "pip install")
    else:
        raise ValueError(f"unknown peer {kind!r}")
    if installed_version(kind, root) != wanted:
        raise PeerUnavailable(f"{kind} {wanted} is not in {root} after installing it")
    return wanted


def runtime(kind: str) -> str:
    """What the peer runs on, for the results: "Node v20.20.2" or "Python 3.11.7"."""
    if kind == "fakellm":  # its virtualenv is made from this interpreter
        return f"Python {sys.version.split()[0]}"
    try:
        done = subprocess.run([shutil.which("node") or "node", "--version"], capture_output=True, text=True)
    except OSError:
        return "Node ?"
    return f"Node {done.stdout.strip() or '?'}"


def prepare(kinds: tuple[str, ...], root: Path = PEERS_DIR) -> tuple[dict[str, str], dict[str, str]]:
    """Install the peers among `kinds`: ({peer: "version (runtime)"} ready, {peer: why not})."""
    ready, skipped = {}, {}
    for kind in kinds:
        if kind not in PEER_KINDS:
            continue
        try:
            ready[kind] = f"{install(kind, root)} ({runtime(kind)})"
        except PeerUnavailable as exc:
            skipped[kind] = str(exc)
    return ready, skipped
