"""`manage.py llmsim_top --url http://host:port`: the live dashboard in a terminal.

For servers reached only over ssh: polls GET /llmsim/stats (any LLMSim server, this
machine's or another's) and redraws the same panels in place with rich; `q` quits.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import termios
import time
import tty
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from rich import box
from rich.console import Console, Group
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int) -> str:
    """The last `width` values as block characters, scaled to their maximum."""
    values = values[-width:] if width > 0 else []
    peak = max(values, default=0)
    if peak <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / peak * (len(SPARK) - 1)))] for v in values)


def number(value: Any) -> str:
    """A figure short enough for an 80-column terminal: one decimal below 100, millions
    and billions as 1.23M and 4.56B."""
    if value is None:
        return "-"
    for size, suffix in ((1e9, "B"), (1e6, "M")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    if isinstance(value, float) and not value.is_integer() and abs(value) < 100:
        return f"{value:,.1f}"
    return f"{round(value):,}"


def fetch(url: str, token: str = "", timeout: float = 3.0) -> dict[str, Any]:
    """GET /llmsim/stats; `token` for a server whose numbers are private (LLMSIM_OPS_AUTH=private)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{url.rstrip('/')}/llmsim/stats", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def figures(pairs: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2), expand=True)
    for _ in pairs:
        table.add_column(justify="right", no_wrap=True, overflow="ellipsis")
    table.add_row(*(Text(number(value), style="bold cyan") for _, value in pairs))
    table.add_row(*(Text(label, style="dim") for label, _ in pairs))
    return table


def render(stats: dict[str, Any] | None, url: str, error: str | None, width: int) -> Layout:
    header = Text.assemble(
        ("LLMSim top ", "bold"),
        (url, "cyan"),
        ("  q quits", "dim"),
    )
    if stats is None:
        return Layout(Panel(Group(header, Text(error or "connecting…", style="yellow"))))
    requests, tokens, rates = stats["requests"], stats["tokens"], stats["rates"]
    header.append(
        f"  {stats['processes']} process{'' if stats['processes'] == 1 else 'es'}, {stats['aggregation']}"
        f"  updated {time.strftime('%H:%M:%S', time.localtime(stats['time']))}",
        style="dim",
    )
    if error:
        header.append(f"  ({error})", style="yellow")
    spark_width = max(10, width // 2 - 8)

    request_panel = Panel(
        Group(
            figures(
                [
                    ("total", requests["total"]),
                    ("active", requests["active"]),
                    ("streams", requests["streams_open"]),
                    ("req/s", rates["requests_per_second"]),
                ]
            ),
            Text(
                f"streaming {number(requests['streaming_total'])}  non-streaming "
                f"{number(requests['non_streaming_total'])}  client disconnects "
                f"{number(requests['client_disconnects'])}",
                style="dim",
                no_wrap=True,
                overflow="ellipsis",
            ),
            Text(sparkline(stats["series"]["requests"], spark_width), style="cyan"),
        ),
        title="Requests",
        box=box.ROUNDED,
    )
    token_panel = Panel(
        Group(
            figures(
                [
                    ("total", tokens["total"]),
                    ("prompt", tokens["prompt"]),
                    ("completion", tokens["completion"]),
                    ("tokens/s", rates["tokens_per_second"]),
                ]
            ),
            Text(""),
            Text(sparkline(stats["series"]["tokens"], spark_width), style="green"),
        ),
        title="Tokens",
        box=box.ROUNDED,
    )

    # Short labels that never wrap: at 80 columns a wrapped label pushed two of the three
    # rows out of the panel.
    latency = Table(box=box.SIMPLE_HEAD, expand=True, show_edge=False)
    latency.add_column("", no_wrap=True)
    for column in ("count", "avg", "min", "p50", "p95", "p99", "max"):
        latency.add_column(column, justify="right", no_wrap=True)
    for key, label in (("ttft", "ttft"), ("inter_token", "inter-token"), ("duration", "duration")):
        row = stats["latency_ms"][key]
        latency.add_row(label, *(number(row[c]) for c in ("count", "avg", "min", "p50", "p95", "p99", "max")))

    errors = Table(box=box.SIMPLE_HEAD, expand=True)
    for column, justify in (("status", "left"), ("kind", "left"), ("injected", "right"), ("organic", "right")):
        errors.add_column(column, justify=justify)
    for status, entry in stats["errors"]["by_status"].items():
        errors.add_row(status, entry["kind"], number(entry["injected"]), number(entry["organic"]))
    error_title = (
        f"Errors {number(stats['errors']['total'])} (injected {number(stats['errors']['injected'])}, "
        f"organic {number(stats['errors']['organic'])})"
    )

    models = Table(box=box.SIMPLE_HEAD, expand=True)
    models.add_column("model")
    models.add_column("requests", justify="right")
    models.add_column("", ratio=1)
    by_model = list(requests["by_model"].items())[:8]
    peak = max((count for _, count in by_model), default=1)
    bar_width = max(5, width // 2 - 40)
    for name, count in by_model:
        models.add_row(name, number(count), Text("█" * max(1, round(count / peak * bar_width)), style="magenta"))

    layout = Layout()
    layout.split_column(
        Layout(header, size=1),
        Layout(name="top", size=6),
        Layout(Panel(latency, title="Latency (ms; ttft: time to first token)", box=box.ROUNDED), size=7),
        Layout(name="bottom"),
    )
    layout["top"].split_row(Layout(request_panel), Layout(token_panel))
    layout["bottom"].split_row(
        Layout(Panel(errors, title=error_title, box=box.ROUNDED)),
        Layout(Panel(models, title="Models", box=box.ROUNDED)),
    )
    return layout


@contextlib.contextmanager
def keys() -> Iterator[Any]:
    """Single key presses from the terminal (cbreak mode), restored on the way out."""
    if not sys.stdin.isatty():
        yield None
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def pressed_quit(fd: int | None, wait: float) -> bool:
    """Wait up to `wait` seconds for a key; True if it is q (or Q, or Ctrl-D)."""
    if fd is None:
        time.sleep(wait)
        return False
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return False
    data = os.read(fd, 32)
    return any(key in data for key in (b"q", b"Q", b"\x04"))


def _hint(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError) and exc.code == 401:
        return " (its numbers are private: pass --token or set LLMSIM_OPS_TOKEN)"
    return ""


class Command(BaseCommand):
    help = "Watch a running LLMSim server's stats in the terminal (q quits)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The server (default %(default)s).")
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between refreshes (default 1).")
        parser.add_argument("--once", action="store_true", help="Print the panels once and exit.")
        parser.add_argument(
            "--token",
            default=os.environ.get("LLMSIM_OPS_TOKEN", ""),
            help="Bearer token for a server with LLMSIM_OPS_AUTH=private (default: $LLMSIM_OPS_TOKEN).",
        )

    def handle(self, *args, **options) -> None:
        url, interval, token = options["url"], options["interval"], options["token"]
        if interval <= 0:
            raise CommandError("--interval must be above 0")
        console = Console()
        if options["once"]:
            try:
                stats = fetch(url, token)
            except (OSError, ValueError) as exc:
                raise CommandError(f"could not read {url}/llmsim/stats: {exc}{_hint(exc)}") from None
            console.print(render(stats, url, None, console.width), height=40)
            return
        stats: dict[str, Any] | None = None
        with keys() as fd, Live(console=console, screen=True, auto_refresh=False) as live:
            while True:
                error = None
                try:
                    stats = fetch(url, token)
                except (OSError, ValueError) as exc:
                    error = f"cannot reach the server: {getattr(exc, 'reason', exc)}{_hint(exc)}"
                live.update(render(stats, url, error, console.width), refresh=True)
                try:
                    if pressed_quit(fd, interval):
                        return
                except KeyboardInterrupt:
                    return
