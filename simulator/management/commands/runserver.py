"""Daphne's runserver, with a listen backlog fit for load tests.

Daphne's endpoints carry Twisted's default backlog of 50: a load test that opens a
thousand streams at once overflows it, and the dropped connections retry a second
later, wrecking time to first token. `simulator` is listed before `daphne` in
INSTALLED_APPS so that this command is the one `manage.py runserver` runs.
"""

from daphne.management.commands.runserver import Command as DaphneRunserverCommand
from daphne.server import Server
from django.conf import settings

from simulator.exposure import note_bind_address


def with_backlog(endpoint: str) -> str:
    """Add the configured backlog to a Twisted tcp: endpoint description."""
    if endpoint.startswith("tcp:") and ":backlog=" not in endpoint:
        return f"{endpoint}:backlog={settings.LLMSIM_LISTEN_BACKLOG}"
    return endpoint


class BackloggedServer(Server):
    def __init__(self, *args, endpoints, **kwargs) -> None:
        super().__init__(*args, endpoints=[with_backlog(e) for e in endpoints], **kwargs)


class Command(DaphneRunserverCommand):
    server_cls = BackloggedServer

    def inner_run(self, *args, **options) -> None:
        note_bind_address(self.addr)  # the Host names the admin answers, and warnings past loopback
        super().inner_run(*args, **options)
