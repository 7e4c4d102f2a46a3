"""`manage.py serve`: the seed's `llmsim serve` — configure, migrate and serve with Daphne."""

from __future__ import annotations

import os
import sys

from channels.routing import get_default_application
from daphne.access import AccessLogGenerator
from daphne.server import Server
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from simulator.config import ConfigError, find_profile, resolve, to_environ

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


class Command(BaseCommand):
    help = (
        "Serve LLMSim with Daphne. Settings come from the YAML file (--config or LLMSIM_CONFIG), "
        "then LLMSIM_* environment variables, then these flags; the last one wins."
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
                if "latency.profile" in config:
                    find_profile(config)  # checked here too, so that the message names the flag or file
        except ConfigError as exc:
            raise CommandError(str(exc)) from None

        # The ASGI module applies the configuration as every server process does
        # (simulator.config.apply_startup_config); handing it the resolved values as
        # LLMSIM_* variables makes it apply exactly what was validated here.
        os.environ.update(to_environ(config))
        os.environ["LLMSIM_CONFIG"] = path
        settings.LLMSIM_CONFIG = path  # settings read the variable before the flag existed
        try:
            application = get_default_application()
        except ImproperlyConfigured as exc:  # e.g. rates that add up to more than 1 with the admin's
            raise CommandError(str(exc)) from None
        if options["use_static_handler"]:
            # The admin is the product's UI: its styles must load without DEBUG or a
            # separate web server. Only paths under STATIC_URL take this detour.
            application = ASGIStaticFilesHandler(application)

        host = config.get("server.host", DEFAULT_HOST)
        port = config.get("server.port", DEFAULT_PORT)
        interface = host.strip("[]").replace(":", r"\:")  # Twisted endpoint syntax escapes IPv6 colons
        self.stdout.write(
            f"LLMSim listening on http://{_url_host(host)}:{port}/ (config file: {path or 'none'}; "
            f"applied: {config.describe()})"
        )
        sys.stdout.flush()
        server = Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={interface}:backlog=4096"],
            signal_handlers=True,
            action_logger=AccessLogGenerator(sys.stdout) if options["access_log"] else None,
            http_timeout=None,
            root_path=getattr(settings, "FORCE_SCRIPT_NAME", "") or "",
            websocket_max_message_size=getattr(settings, "DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE", 1024 * 1024),
            websocket_max_frame_size=getattr(settings, "DAPHNE_WEBSOCKET_MAX_FRAME_SIZE", 1024 * 1024),
            verbosity=options["verbosity"],
        )
        server.run()
        if server.abort_start:  # the port is taken, or the interface does not exist
            raise CommandError(f"could not listen on {host}:{port}")


def _url_host(host: str) -> str:
    return f"[{host.strip('[]')}]" if ":" in host else host
