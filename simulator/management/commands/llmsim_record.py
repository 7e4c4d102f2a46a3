"""Record real traffic: `manage.py llmsim_record --cassettes DIR [--upstream URL]`.

A proxy in the foreground (uvicorn) that forwards the provider routes to the real APIs,
or to the upstreams given, and writes each generation exchange as a cassette
(simulator/recording/proxy.py does the work; docs/recording.md tells the story).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from simulator.recording.anonymise import Anonymiser
from simulator.recording.cassettes import (
    DEFAULT_MAX_CASSETTE_BYTES,
    DEFAULT_MAX_DIRECTORY_BYTES,
    PROVIDERS,
    CassetteDirectory,
)
from simulator.recording.proxy import RecordingProxy

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001
REAL_UPSTREAMS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


def upstream_url(value: str, option: str) -> str:
    """`value` as scheme://host[:port], or CommandError saying what is wrong with it."""
    parts = urlsplit(value)
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "the scheme must be http or https"
    elif not parts.hostname:
        problem = "it has no host"
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "give only scheme://host[:port]; the client's path is appended to it"
    elif parts.username or parts.password:
        problem = "credentials do not belong in it (the client's own are forwarded)"
    else:
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            problem = "its port is not a number"
    if problem:
        raise CommandError(f"{option} {value!r}: {problem}")
    return f"{parts.scheme}://{parts.netloc}"


class Command(BaseCommand):
    help = (
        "Forward the provider APIs (/v1, /v1beta) to their upstreams — the real providers by default — "
        "streaming every answer back as it arrives, and write each generation exchange, anonymised, "
        "as a cassette in --cassettes. The client's credentials are forwarded, never written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cassettes", required=True, help="Directory to write the cassettes to (made if missing).")
        parser.add_argument("--upstream", help="Upstream for all three providers, e.g. http://127.0.0.1:8000.")
        for provider in PROVIDERS:
            parser.add_argument(
                f"--upstream-{provider}",
                help=f"Upstream for {provider} (default: --upstream, or {REAL_UPSTREAMS[provider]}).",
            )
        parser.add_argument("--host", default=DEFAULT_HOST, help=f"Interface to listen on (default {DEFAULT_HOST}).")
        parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port (default {DEFAULT_PORT}).")
        parser.add_argument(
            "--redact",
            nargs="+",
            action="extend",
            default=[],
            metavar="REGEX",
            help="More patterns to mask in everything recorded (besides e-mail, phone, card numbers and IPs).",
        )
        parser.add_argument(
            "--max-cassette-bytes",
            type=int,
            default=DEFAULT_MAX_CASSETTE_BYTES,
            help="Largest cassette; a larger exchange is forwarded, not recorded "
            f"(default {DEFAULT_MAX_CASSETTE_BYTES:,}).",
        )
        parser.add_argument(
            "--max-directory-bytes",
            type=int,
            default=DEFAULT_MAX_DIRECTORY_BYTES,
            help=f"Most cassette bytes in the directory; past it nothing more is recorded (default "
            f"{DEFAULT_MAX_DIRECTORY_BYTES:,}).",
        )

    def handle(self, *args, **options) -> None:
        upstreams = {}
        for provider in PROVIDERS:
            option = f"upstream_{provider}"
            given = options[option] or options["upstream"]
            name = f"--upstream-{provider}" if options[option] else "--upstream"
            upstreams[provider] = upstream_url(given, name) if given else REAL_UPSTREAMS[provider]
        try:
            Anonymiser(options["redact"])  # the proxy makes one per exchange: check the patterns once, here
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for limit in ("max_cassette_bytes", "max_directory_bytes"):
            if options[limit] < 1:
                raise CommandError(f"--{limit.replace('_', '-')} must be at least 1")
        path = Path(options["cassettes"])
        try:
            directory = CassetteDirectory(path, options["max_cassette_bytes"], options["max_directory_bytes"])
        except OSError as exc:
            raise CommandError(f"--cassettes {path}: cannot use the directory ({exc.strerror or exc})") from None
        app = RecordingProxy(upstreams, directory, redact=options["redact"])
        # httpx2 logs each request's URL at INFO: a Gemini client's ?key= would reach the log.
        logging.getLogger("httpx2").setLevel(logging.WARNING)
        host, port = options["host"], options["port"]
        shown_host = f"[{host}]" if ":" in host else host
        base = f"http://{shown_host}:{port}"
        lines = [f"LLMSim recorder listening on {base}/ (Ctrl-C stops it)"]
        lines += [f"  {provider:<9} → {upstreams[provider]}" for provider in PROVIDERS]
        lines += [
            "SDK base URLs:",
            f"  openai    {base}/v1",
            f"  anthropic {base}",
            f"  gemini    {base}",
            f"Cassettes: {path.resolve()} ({directory.sequence} already there, {directory.used_bytes:,} bytes)",
        ]
        self.stdout.write("\n".join(lines))
        sys.stdout.flush()
        serve(app, host, port)


def serve(app: RecordingProxy, host: str, port: int) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM (uvicorn handles both)."""
    import uvicorn

    # The upstream's own Server and Date headers pass through; uvicorn's would double them.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False, date_header=False)
    uvicorn.Server(config).run()
