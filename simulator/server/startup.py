"""What a server process does once before it answers its first request."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404

from simulator import process_overrides
from simulator.engine import generators, tokens
from simulator.providers import callers
from simulator.routes import ROUTES
from simulator.server.router import ProviderRouter
from simulator.state import key_agreement, load, snapshots
from stats.recorder import recorder
from stats.sharing import sharing

T = TypeVar("T")
# Passes over the middle generation per full garbage collection (Python's default: 10).
FULL_PASS_EVERY = 100
logger = logging.getLogger(__name__)


def outside_event_loop(work: Callable[[], T]) -> T:
    """Run blocking startup work (the ORM) even when the server imports the app from
    inside its running event loop, as uvicorn does; Django forbids the ORM there."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def _prepare() -> None:
    key_agreement.start()  # says which secret key this process signs with, and whether peers agree
    # The startup configuration: its settings are this process's own, layered over the
    # stored ones in its snapshots (and shown in the admin while it runs).
    process_overrides.start(process_overrides.load())
    tokens.warm_up()  # the first request must not pay for loading vocabularies...
    generators.warm_up(tokens.ENCODINGS)  # ...or for tokenizing the lorem/random corpora
    snapshots.start()


class StaticFiles(ASGIStaticFilesHandler):
    """Django's static files, where a path that climbs out of the static root
    (/static/..%2f..%2fetc%2fpasswd) is a 404: Django's handler catches only Http404, so
    the SuspiciousFileOperation of such a path escaped as a 500."""

    def serve(self, request: Any) -> Any:
        try:
            return super().serve(request)
        except SuspiciousFileOperation as exc:
            raise Http404("No such static file.") from exc


def start_serving(django_app: Any, everything_else: Callable[[Any], Any]) -> ProviderRouter:
    """Load the startup configuration, vocabularies and the scenario snapshot; the ASGI
    application: the provider routes first, then `everything_else(django's HTTP app)`."""
    outside_event_loop(_prepare)
    # Static files are Django's side of the router: the provider routes never pay for the check.
    django_http = StaticFiles(django_app) if settings.LLMSIM_SERVE_STATIC else django_app
    router = ProviderRouter(ROUTES, everything_else(django_http), callers.answer_unrouted)
    # With Redis or serve's stats directory, this process's numbers add up with the others'.
    sharing.configure(
        settings.REDIS_URL,
        settings.LLMSIM_REDIS_PREFIX,
        settings.LLMSIM_STATS_DIR,
        settings.LLMSIM_STATS_PUBLISH_SECONDS,
    )
    sharing.start()
    recorder.load_gauges = load.gauges
    if settings.LLMSIM_LOAD_SHARED and not settings.REDIS_URL:
        logger.warning("LLMSIM_LOAD_SHARED is set but REDIS_URL is not: model capacities count per process")
    # Everything loaded so far (Django, vocabularies, corpora) lives as long as the
    # process: keep it out of the garbage collector's scans, whose full passes
    # otherwise stall the event loop for tens of milliseconds under load.
    gc.freeze()
    # Frozen objects no longer count as long-lived, so the collector's rule of a full pass
    # only once the long-lived objects have grown by a quarter stops holding it back: every
    # tenth pass over the middle generation became a full one, scanning every object of
    # every open stream (55-160 ms each while 2,000 streams started, in-process). One in
    # a hundred: a full pass still comes, for what reference counting cannot free.
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_EVERY)
    return router
