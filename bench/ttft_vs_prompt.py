"""Time to first token against prompt size, cold and on a prompt-cache hit, for one preset.

Starts a server (`manage.py serve`, one worker, a fresh SQLite file with the presets),
streams chat completions from a preset model and prints the client-measured time to the
first content chunk: for prompts of about 50, 5,000 and 50,000 tokens, each sent once
cold (a prefix nobody sent before) and then again (read from the prompt cache). The
request's seed fixes the sampled part of the TTFT, so cold and warm differ only by
the prefill the cache saves (plus counting and hashing the prompt).

    python bench/ttft_vs_prompt.py [--model gpt-4o] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SIZES = (50, 5_000, 50_000)
# Ten tokens (o200k_base); a prompt also has its case id and the chat framing (about 40).
SENTENCE = "The quick brown fox jumps over the lazy dog again. "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp: Path) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "REDIS_URL": ""}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=PROJECT_ROOT, env=env, check=True)
    port = free_port()
    command = [*manage, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-migrate"]
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server, port
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"the server did not start: see {tmp / 'server.log'}")


def ttft_s(port: int, model: str, prompt: str) -> tuple[float, int, int]:
    """Seconds to the first content chunk; the prompt and cached tokens of the answer."""
    body = {
        "model": model,
        "messages": [{"role": "system", "content": prompt}, {"role": "user", "content": "Summarize."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 5,
        "seed": 1,
    }
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    connection.request(
        "POST",
        "/v1/chat/completions",
        json.dumps(body),
        {"Authorization": "Bearer bench", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    first = None
    usage = {}
    for line in response:
        if not line.startswith(b"data: {"):
            continue
        chunk = json.loads(line[6:])
        if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
            first = time.perf_counter() - started
        if chunk.get("usage"):
            usage = chunk["usage"]
    connection.close()
    return first or 0.0, usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gpt-4o")
    parser.add_argument("--rounds", type=int, default=3, help="prompts per size (median reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server, port = start_server(Path(tmp))
        try:
            ttft_s(port, args.model, "warm up")
            print(f"model {args.model}: time to first token, client-measured (median of {args.rounds})")
            print(f"{'prompt tokens':>14} {'cold ms':>9} {'hit ms':>9} {'cached tokens':>14}")
            for size in SIZES:
                cold, warm, prompt_tokens, cached = [], [], 0, 0
                for _ in range(args.rounds):
                    prompt = f"Case {uuid.uuid4().hex}. " + SENTENCE * max(1, (size - 40) // 10)
                    seconds, prompt_tokens, _ = ttft_s(port, args.model, prompt)
                    cold.append(seconds)
                    seconds, _, cached = ttft_s(port, args.model, prompt)
                    warm.append(seconds)
                cold_ms, warm_ms = statistics.median(cold) * 1000, statistics.median(warm) * 1000
                print(f"{prompt_tokens:>14,} {cold_ms:>9.0f} {warm_ms:>9.0f} {cached:>14,}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
