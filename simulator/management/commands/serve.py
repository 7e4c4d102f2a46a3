"""`manage.py serve`: the seed's `llmsim serve` — configure, migrate and serve.

The throughput path: granian (a Rust HTTP server running the ASGI app on uvloop),
N worker processes sharing one listening socket. Measured against uvicorn (uvloop +
httptools) in docs/benchmarks.md: the same requests/s, and 1,000 streams started at
once keep their schedule better (duration ratio p99 ~1.06 vs ~1.12, TTFT lateness p99
~120-215 ms vs ~290 ms) because granian accepts and parses the burst outside Python.
uvicorn (--server uvicorn) and Daphne (--server daphne, what `runserver` uses) stay
available.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from simulator import process_overrides
from simulator.config import ConfigError, resolve, to_environ
from simulator.exposure import note_bind_address
from simulator.landing import product, startup_lines

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ASGI_APP = "llmsim_project.asgi:application"
# How soon granian replaces a worker that died (its default, 3.5 s, is long for a load test).
RESPAWN_INTERVAL_S = 0.5
# granian's Rust side allocates with jemalloc, which keeps freed pages resident for 10 s
# by default: after a burst of streams a worker held ~6 KB a stream more than it used
# (34 against 28.5 KB per stream at 2,000 streams, docs/benchmarks.md). Returning them at
# once costs ~1.5 % of requests/s. Read once, when granian is first imported; a value of
# the user's own in the environment wins.
GRANIAN_ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def default_workers() -> int:
    """One worker per core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Command(BaseCommand):
    help = (
        "Serve LLMSim with granian in one worker process per core (--server uvicorn or daphne "
        "for the alternatives). Settings come from the YAML file (--config or LLMSIM_CONFIG), "
        "then LLMSIM_* environment variables, then these flags (the last one wins); they "
        "override the stored settings in this server's processes only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", help=f"Interface to listen on (default {DEFAULT_HOST}).")
        parser.add_argument("--port", help=f"Port to listen on (default {DEFAULT_PORT}).")
        parser.add_argument("--config", help="YAML configuration file (default: LLMSIM_CONFIG).")
        parser.add_argument("--generator", help="lorem, echo, random, fixed, or fixed:<text>.")
        parser.add_argument("--target-tokens", help="Length of lorem and random answers, in tokens.")
        parser.add_argument("--latency-profile", help="Latency of every model: a profile name such as gpt-4o.")
        parser.add_argument("--strict-models", action="store_true", help="Answer unknown models with 404.")
        parser.add_argument("--no-migrate", action="store_true", help="Do not run migrate before serving.")
        parser.add_argument(
            "--workers", type=int, default=None, help="Worker processes (default: one per core; not daphne)."
        )
        parser.add_argument(
            "--server",
            choices=("granian", "uvicorn", "daphne"),
            default="granian",
            help="ASGI server: granian (default, best measured), uvicorn, or daphne (one process).",
        )
        parser.add_argument("--access-log", action="store_true", help="Log every request to stdout.")
        parser.add_argument(
            "--nostatic", action="store_false", dest="use_static_handler", help="Do not serve STATIC_URL files."
        )

    def handle(self, *args, **options) -> None:
        path = options["config"] or settings.LLMSIM_CONFIG or ""
        try:
            config = resolve(path or None, os.environ, options)
            if not options["no_migrate"]:
                call_command("migrate", interactive=False, verbosity=0)
        except ConfigError as exc:
            raise CommandError(str(exc)) from None

        # Every server process loads the configuration (simulator.process_overrides.load)
        # and layers it over the stored settings in its own snapshot, writing none of it;
        # handing the workers the resolved values (and where they came from) as LLMSIM_*
        # variables gives each of them exactly what was validated here.
        os.environ.update(to_environ(config))
        os.environ["LLMSIM_CONFIG"] = path
        settings.LLMSIM_CONFIG = path  # settings read the variable before the flag existed
        if not options["use_static_handler"]:
            os.environ["LLMSIM_SERVE_STATIC"] = "false"
            settings.LLMSIM_SERVE_STATIC = False
        try:
            # Once here, so that an unknown profile or a bad scenario in the file stops serve
            # cleanly; the file's data is imported here, and by each worker again (which
            # changes nothing).
            process_overrides.load()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        host = config.get("server.host", DEFAULT_HOST)
        port = int(config.get("server.port", DEFAULT_PORT))
        workers = options["workers"] or default_workers()
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        server = options["server"]
        if server == "daphne" and options["workers"] not in (None, 1):
            raise CommandError("--server daphne runs one process; use uvicorn for --workers")
        note_bind_address(host)  # before the workers start: they inherit the Host names it allows
        processes = 1 if server == "daphne" else workers
        _tell_workers("LLMSIM_SERVER", f"{server}, {processes} worker{'s' if processes > 1 else ''}")
        # The admin lists the overrides of running servers under this name.
        server_name = process_overrides.server_name("serve", host, port)
        _tell_workers("LLMSIM_SERVER_NAME", server_name)
        self.stdout.write(
            f"{product()} listening on http://{_url_host(host)}:{port}/ ({server}, "
            f"{processes} worker(s); config file: {path or 'none'}; overrides: {config.describe()})"
        )
        self.stdout.write("\n".join(startup_lines(host, port)))
        sys.stdout.flush()
        try:
            if server == "daphne":
                _serve_daphne(host, port, options)
                return
            with _stats_directory(workers):
                if server == "granian":
                    _serve_granian(host, port, workers, options)
                else:
                    _serve_uvicorn(host, port, workers, options)
        finally:
            # Workers that end by their signal (uvicorn's) cannot withdraw their overrides.
            process_overrides.withdraw_server(server_name)


@contextlib.contextmanager
def _stats_directory(workers: int):
    """Without Redis, workers add their stats up through files in a directory of this run."""
    if workers == 1 or settings.REDIS_URL or os.environ.get("LLMSIM_STATS_DIR"):
        yield
        return
    directory = tempfile.mkdtemp(prefix="llmsim-stats-")
    _tell_workers("LLMSIM_STATS_DIR", directory)
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _tell_workers(name: str, value: str) -> None:
    """Set a setting for the worker processes about to start."""
    os.environ[name] = value  # spawned workers read it...
    setattr(settings, name, value)  # ...forked ones had their settings read already


def _serve_uvicorn(host: str, port: int, workers: int, options: dict) -> None:
    import uvicorn

    uvicorn.run(
        ASGI_APP,
        host=host.strip("[]"),
        port=port,
        workers=workers if workers > 1 else None,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=options["access_log"],
        log_level="info" if options["verbosity"] > 1 else "warning",
        backlog=settings.LLMSIM_LISTEN_BACKLOG,
        timeout_keep_alive=30,
        # LLMSim does not use the client address; skip the per-request header rewrite.
        proxy_headers=False,
    )


def _serve_granian(host: str, port: int, workers: int, options: dict) -> None:
    os.environ.setdefault(*GRANIAN_ALLOCATOR)
    from granian import Granian

    Granian(
        ASGI_APP,
        address=host.strip("[]"),
        port=port,
        # "asginl": ASGI without lifespan, which the Channels router does not speak.
        interface="asginl",
        # HTTP/1.1 only. The SDKs speak HTTP/1.1 to an http:// base_url (HTTP/2 comes with
        # TLS), and granian's default, which also listens for HTTP/2's preface, held ~8 KB
        # more per open connection: 42 against 34 KB per stream at 1,000 streams, with the
        # same schedule (docs/benchmarks.md).
        http="1",
        workers=workers,
        loop="uvloop",
        backlog=settings.LLMSIM_LISTEN_BACKLOG,
        # A worker that dies (the OOM killer's kill -9) is replaced, as a load test
        # expects of a server, instead of taking the whole server down with it.
        respawn_failed_workers=True,
        respawn_interval=RESPAWN_INTERVAL_S,
        log_access=options["access_log"],
        log_level="info" if options["verbosity"] > 1 else "warning",
    ).serve()


def _serve_daphne(host: str, port: int, options: dict) -> None:
    from daphne.access import AccessLogGenerator

    from llmsim_project.asgi import application
    from simulator.server.daphne import LLMSimServer

    interface = host.strip("[]").replace(":", r"\:")  # Twisted endpoint syntax escapes IPv6 colons
    server = LLMSimServer(
        application=application,
        endpoints=[f"tcp:port={port}:interface={interface}:backlog={settings.LLMSIM_LISTEN_BACKLOG}"],
        signal_handlers=True,
        action_logger=AccessLogGenerator(sys.stdout) if options["access_log"] else None,
        http_timeout=None,
        root_path=getattr(settings, "FORCE_SCRIPT_NAME", "") or "",
        verbosity=options["verbosity"],
    )
    server.run()
    if server.abort_start:  # the port is taken, or the interface does not exist
        raise CommandError(f"could not listen on {host}:{port}")


def _url_host(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host else host
