"""How much the database grows under a load test of the stateful APIs (Assistants, stored Responses).

Starts `manage.py serve` (one worker) on a fresh SQLite file, drives it with the official
openai SDK from a few threads, and prints the file's size (WAL checkpointed) and the row
counts after every `--report-every` iterations. One iteration of `assistants`: a thread
created with two messages, one more message, a run polled to completion (its answer
message written), and every 100th iteration a new assistant. One of `responses`: a
stored response with an input of --input-kb (4 by default).

    python bench/storage_growth.py --iterations 20000 --workload assistants
    python bench/storage_growth.py --iterations 20000 --workload responses --env LLMSIM_RESPONSES_RETAIN=1000

Needs the openai package (requirements-test.txt). Standard library otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANT = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"}
TABLES = (
    "simulator_assistant",
    "simulator_thread",
    "simulator_threadmessage",
    "simulator_run",
    "simulator_storedresponse",
)
INSTRUCTIONS = "You are a helpful assistant for a travel agency. Answer briefly and politely. " * 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(db: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", **env}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=environment, check=True)
    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        [*command, "--no-migrate"],
        cwd=ROOT,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def measure(db: Path) -> tuple[int, dict[str, int]]:
    """The file's size once the WAL is checkpointed into it, and each table's row count."""
    with sqlite3.connect(db, timeout=30) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = {table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}
    return db.stat().st_size, counts


def assistants_iteration(client, state: dict, n: int) -> None:
    beta = client.beta
    if n % 100 == 0 or "assistant" not in state:
        state["assistant"] = beta.assistants.create(model="gpt-4o-mini", instructions=INSTRUCTIONS)
    thread = beta.threads.create(
        messages=[{"role": "user", "content": f"Hello, I am traveller {n}."}, {"role": "user", "content": "Hi!"}]
    )
    beta.threads.messages.create(thread.id, role="user", content="What should I pack for Lisbon in May?")
    beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=state["assistant"].id, poll_interval_ms=5)


def responses_iteration(client, state: dict, n: int) -> None:
    text = f"Request {n}: " + "Summarise this paragraph of a long document for me. " * (state["input_kb"] * 20)
    client.responses.create(model="gpt-4.1-mini", input=text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--workload", choices=("assistants", "responses"), default="assistants")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--input-kb", type=int, default=4, help="size of a response's input (responses)")
    parser.add_argument("--report-every", type=int, default=0, help="default: a tenth of --iterations")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    args = parser.parse_args()
    import openai

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    env = dict(item.split("=", 1) for item in args.env)
    work = Path(tempfile.mkdtemp(prefix="llmsim-growth-"))
    db, log = work / "db.sqlite3", work / "server.log"
    process, base = start(db, env, log)
    iteration = assistants_iteration if args.workload == "assistants" else responses_iteration
    every = args.report_every or max(1, args.iterations // 10)
    counter = iter(range(args.iterations))
    lock = threading.Lock()
    done = [0]
    errors: list[BaseException] = []

    def client_thread() -> None:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=2, default_headers=INSTANT)
        state: dict = {"input_kb": args.input_kb}
        while not errors:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            try:
                iteration(client, state, n)
            except BaseException as exc:  # report it and stop the run
                errors.append(exc)
                return
            with lock:
                done[0] += 1

    print(f"workload={args.workload} env={env} db={db}")
    print(f"{'iterations':>10} {'file MB':>9}  " + " ".join(f"{t.removeprefix('simulator_'):>15}" for t in TABLES))
    started = time.monotonic()
    threads = [threading.Thread(target=client_thread) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    reported = 0
    try:
        while any(thread.is_alive() for thread in threads):
            time.sleep(0.2)
            if done[0] - reported >= every:
                reported = done[0] // every * every
                size, counts = measure(db)
                print(f"{done[0]:>10} {size / 1e6:>9.1f}  " + " ".join(f"{counts[t]:>15}" for t in TABLES))
        size, counts = measure(db)
        print(f"{done[0]:>10} {size / 1e6:>9.1f}  " + " ".join(f"{counts[t]:>15}" for t in TABLES))
        print(f"{time.monotonic() - started:.0f} s")
        if errors:
            print(f"stopped by: {errors[0]!r}")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
