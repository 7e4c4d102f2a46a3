"""The cost of LLMSim's own request path, without a server or a network.

Calls the ASGI application directly (as uvicorn would) with a chat completion and
prints microseconds per request, the best of several rounds: a figure that moves
with our code, not with the kernel or the load generator. Optionally profiles.

    python bench/handler_cost.py [--requests 5000] [--rounds 5] [--tokens 20] [--stream] [--profile]
        [--loaded-scenario] [--realism] [--instructions]

`--loaded-scenario` makes every request walk ten response rules and take from rate
limits (bench/loaded_scenario.py); `--realism` gives the bench model a load model and
prompt caching (the same request: what the features cost when they do not bind).

On a shared machine even that figure moves by 10 %. `--instructions` counts the
instructions per request instead, under valgrind's callgrind (installed separately;
about two minutes): the same code gives the same count whatever the machine is doing,
so a change of 2 % shows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadgen import SDK_HEADERS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# The realism features on the bench model: a load model whose capacity the bench never
# reaches (so no request queues) at twice the time between tokens at full load, and
# prompt caching from OpenAI's presets' minimum (migration 0020).
REALISM = {"max_concurrency": 1_000_000, "load_factor": 2.0, "prompt_cache_min_tokens": 1024}


def load_application(db_path: Path, loaded_scenario: bool = False, realism: bool = False):
    sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmsim_project.settings")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    if loaded_scenario:
        sys.path.insert(0, str(PROJECT_ROOT / "bench"))
        import loaded_scenario as scenario_module

        scenario_module.install()
    if realism:
        from simulator.models import ModelProfile

        profile = ModelProfile.objects.get(model_id="instant")
        for name, value in REALISM.items():
            setattr(profile, name, value)
        profile.save()  # the signal tells the snapshot
    from llmsim_project.asgi import application

    return application


def make_request(tokens: int, stream: bool) -> tuple[dict, bytes]:
    body = b'{"model":"instant","messages":[{"role":"user","content":"hi"}]' + (b',"stream":true}' if stream else b"}")
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer bench"),
        (b"x-llmsim-tokens", str(tokens).encode()),
        (b"content-length", str(len(body)).encode()),
        # What the openai SDK adds, as bench/run.py's load generator sends it.
        *((name.lower().encode(), value.encode()) for name, value in SDK_HEADERS.items()),
    ]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"", "headers": headers}
    return scope, body


async def run(application, scope: dict, body: bytes, count: int) -> None:
    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    for _ in range(count):
        await application(dict(scope), _receiver(body), send)


def _receiver(body: bytes):
    """An ASGI receive: the body once, then (as from a client that stays) nothing."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--stream", action="store_true", help="streaming requests (instant timing)")
    parser.add_argument("--profile", action="store_true", help="print the top functions of one more round")
    parser.add_argument(
        "--loaded-scenario", action="store_true", help="ten response rules and rate limits (bench/loaded_scenario.py)"
    )
    parser.add_argument(
        "--realism", action="store_true", help="the bench model with a load model and prompt caching (REALISM)"
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions per request under valgrind (callgrind)"
    )
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args)
        return
    # The server's background threads keep SQLite connections open, whose -wal and -shm
    # files may be written again while the directory is removed (seen under valgrind,
    # and once without): what is left is a throw-away directory.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        application = load_application(Path(tmp) / "bench.sqlite3", args.loaded_scenario, args.realism)
        scope, body = make_request(args.tokens, args.stream)
        asyncio.run(run(application, scope, body, 200))  # warm up
        best = min(_timed(application, scope, body, args.requests) for _ in range(args.rounds))
        kind = "streaming" if args.stream else "non-streaming"
        print(f"{kind}, {args.tokens} tokens: {best * 1e6:.1f} us per request (best of {args.rounds} rounds)")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(asyncio.run, run(application, scope, body, args.requests))
            pstats.Stats(profiler).sort_stats("tottime").print_stats(int(os.environ.get("LLMSIM_PROFILE_ROWS", "20")))


def count_instructions(args: argparse.Namespace) -> None:
    """Run this script under callgrind for two request counts: the difference is the requests' own."""
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (Debian: apt install valgrind)")
    options = ["--tokens", str(args.tokens), *(["--stream"] if args.stream else [])]
    options += ["--loaded-scenario"] if args.loaded_scenario else []
    options += ["--realism"] if args.realism else []
    few, many = 1000, 3000
    totals = []
    for count in (few, many):
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
        command += [*options, "--requests", str(count), "--rounds", "1"]
        # Under valgrind the run lasts minutes: the snapshot poll (a query twice a second)
        # would add its instructions in proportion to the requests. Load the snapshot once.
        # A fixed hash seed: with a random one, dict probing alone moves the count by ±1 %.
        environment = {**os.environ, "LLMSIM_SNAPSHOT_POLL_SECONDS": "86400", "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, text=True, env=environment)
        found = re.search(r"refs:\s+([\d,]+)", done.stderr)
        if done.returncode != 0 or found is None:
            sys.exit(f"callgrind run failed ({done.returncode}):\n{done.stdout}{done.stderr[-2000:]}")
        totals.append(int(found.group(1).replace(",", "")))
    kind = "streaming" if args.stream else "non-streaming"
    per_request = (totals[1] - totals[0]) / (many - few)
    print(f"{kind}, {args.tokens} tokens: {per_request:,.0f} instructions per request (callgrind)")


def _timed(application, scope: dict, body: bytes, count: int) -> float:
    started = time.perf_counter()
    asyncio.run(run(application, scope, body, count))
    return (time.perf_counter() - started) / count


if __name__ == "__main__":
    main()
