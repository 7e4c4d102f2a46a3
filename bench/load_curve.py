"""One model driven to three times its capacity: the load curve of a profile with a
max_concurrency (docs/providers.md#load).

Starts `manage.py serve` (one worker) on a throw-away database holding one model profile
(capacity C, a load factor, a queue, prices), then sends waves of streaming chat requests
with the official openai SDK at concurrency 1, C and 3C (each wave all at once, the next
when it is over). Per level it prints the time to first token and the gaps between tokens
(p50 / p99, as the client sees them), the queue wait (TTFT above the level-1 median, for
the answers that waited), the error rate with the status counts, and at the end the run's
cost from /llmsim/stats.

    python bench/load_curve.py                       # C=4, load factor 3, queue 4, 5 waves a level
    python bench/load_curve.py --capacity 8 --load-factor 2 --queue 8 --waves 10 --tokens 50

Needs the openai package (requirements-test.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

import openai
from servers import PROJECT_ROOT, bench_environment, free_port, migrate, start_server, stop_server, wait_healthy

MODEL = "loaded-model"
# A first token later than the level-1 median by more than this waited in the queue (below
# it: the client's own scheduling noise with many streams open).
WAIT_THRESHOLD_S = 0.05


def profile_json(args: argparse.Namespace) -> str:
    return json.dumps(
        {
            "model_profiles": [
                {
                    "model_id": MODEL,
                    "ttft_mean_ms": args.ttft_ms,
                    "ttft_stddev_ms": 0,
                    "tbt_mean_ms": args.tbt_ms,
                    "tbt_stddev_ms": 0,
                    "max_concurrency": args.capacity,
                    "load_factor": args.load_factor,
                    "queue_size": args.queue,
                    "input_usd_per_mtok": 2.5,
                    "output_usd_per_mtok": 10.0,
                }
            ]
        }
    )


def install_profile(workdir: Path, args: argparse.Namespace) -> None:
    path = workdir / "profile.json"
    path.write_text(profile_json(args))
    done = subprocess.run(
        [sys.executable, "manage.py", "llmsim_import", str(path)],
        cwd=PROJECT_ROOT,
        env=bench_environment(workdir),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"llmsim_import failed:\n{done.stdout}{done.stderr}")


async def one_stream(client: openai.AsyncOpenAI, tokens: int) -> tuple[int, float | None, list[float]]:
    """(status, TTFT in s, gaps in s) of one streaming request."""
    start = time.monotonic()
    arrivals: list[float] = []
    try:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "load"}],
            stream=True,
            extra_headers={"x-llmsim-tokens": str(tokens)},
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.monotonic() - start)
    except openai.APIStatusError as error:
        return error.status_code, None, []
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    return 200, (arrivals[0] if arrivals else None), gaps


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


async def run_level(client: openai.AsyncOpenAI, concurrency: int, waves: int, tokens: int) -> list:
    results = []
    for _ in range(waves):
        results += await asyncio.gather(*(one_stream(client, tokens) for _ in range(concurrency)))
    return results


async def drive(base_url: str, args: argparse.Namespace) -> list[tuple[int, list]]:
    levels = [1, args.capacity, 3 * args.capacity]
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="bench", max_retries=0) as client:
        await one_stream(client, 2)  # warm-up, not counted
        return [(level, await run_level(client, level, args.waves, args.tokens)) for level in levels]


def report(levels: list[tuple[int, list]], stats: dict, args: argparse.Namespace) -> str:
    alone = [ttft for status, ttft, _ in levels[0][1] if ttft is not None]
    base_ttft = statistics.median(alone) if alone else 0.0
    lines = [
        f"model: max_concurrency {args.capacity}, load_factor {args.load_factor}, queue_size {args.queue}, "
        f"TTFT {args.ttft_ms:g} ms, TBT {args.tbt_ms:g} ms, {args.tokens} tokens a stream, {args.waves} waves a level",
        "",
        "| concurrency | requests | TTFT p50 / p99 (ms) | gap p50 / p99 (ms) | queue wait p50 / max (ms) "
        "| errors | statuses |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for concurrency, results in levels:
        ttfts = [ttft for _, ttft, _ in results if ttft is not None]
        gaps = [gap for _, _, stream_gaps in results for gap in stream_gaps]
        # An answer that queued starts later than the level-1 median by more than the client's noise.
        waits = [ttft - base_ttft for ttft in ttfts if ttft - base_ttft > WAIT_THRESHOLD_S]
        statuses = Counter(status for status, _, _ in results)
        errors = sum(count for status, count in statuses.items() if status != 200)
        lines.append(
            f"| {concurrency} | {len(results)} | {ms(percentile(ttfts, 0.5))} / {ms(percentile(ttfts, 0.99))} "
            f"| {ms(percentile(gaps, 0.5))} / {ms(percentile(gaps, 0.99))} "
            f"| {ms(percentile(waits, 0.5))} / {ms(max(waits) if waits else None)} "
            f"| {errors / len(results):.0%} | {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))} |"
        )
    cost = stats["cost"]["by_model"].get(MODEL, {}).get("usd", 0.0)
    tokens = stats["tokens"]["by_model"].get(MODEL, {"prompt": 0, "completion": 0})
    lines += [
        "",
        f"cost of the run (/llmsim/stats): ${cost:.6f} for {tokens['prompt']} prompt and "
        f"{tokens['completion']} completion tokens at $2.50 / $10 per million",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=4, help="max_concurrency (C)")
    parser.add_argument("--load-factor", type=float, default=3.0)
    parser.add_argument("--queue", type=int, default=4, help="queue_size")
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--tbt-ms", type=float, default=20.0)
    parser.add_argument("--tokens", type=int, default=30, help="tokens per answer")
    parser.add_argument("--waves", type=int, default=5, help="waves of requests per level")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="llmsim-load-curve-") as directory:
        workdir = Path(directory)
        migrate(workdir)
        install_profile(workdir, args)
        server = start_server("serve", free_port(), workdir, cpus=None, serve_workers=1)
        try:
            wait_healthy(server)
            base_url = f"http://127.0.0.1:{server.port}"
            levels = asyncio.run(drive(base_url, args))
            with urllib.request.urlopen(f"{base_url}/llmsim/stats", timeout=5) as response:
                stats = json.loads(response.read())
        finally:
            stop_server(server)
    print(report(levels, stats, args))


if __name__ == "__main__":
    main()
