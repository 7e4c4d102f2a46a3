"""Daphne's runserver, as LLMSim serves it (simulator.server.daphne): a listen backlog
fit for load tests, and the requests Twisted refuses answered in the caller's format.

`simulator` is listed before `daphne` in INSTALLED_APPS so that this command is the
one `manage.py runserver` runs.
"""

from daphne.management.commands.runserver import Command as DaphneRunserverCommand
from daphne.management.commands.runserver import get_default_application
from django.conf import settings

from simulator import process_overrides
from simulator.exposure import note_bind_address
from simulator.landing import product, startup_lines
from simulator.server.daphne import LLMSimServer


class Command(DaphneRunserverCommand):
    server_cls = LLMSimServer

    def inner_run(self, *args, **options) -> None:
        note_bind_address(self.addr)  # the Host names the admin answers, and warnings past loopback
        settings.LLMSIM_SERVER = "runserver (Daphne)"
        # The admin lists the overrides of running servers under this name.
        settings.LLMSIM_SERVER_NAME = process_overrides.server_name("runserver", self.addr, self.port)
        super().inner_run(*args, **options)

    def get_application(self, options):
        # The application serves STATIC_URL itself (simulator.server.startup.StaticFiles, unless
        # LLMSIM_SERVE_STATIC is off). Daphne would put Django's stock handler in front
        # of it under DEBUG, and that one answers a path out of the static root with a 500.
        if not options.get("use_static_handler", True):
            settings.LLMSIM_SERVE_STATIC = False
        application = get_default_application()
        # Daphne has printed its lines by now; these follow them, as `serve` prints them.
        self.stdout.write("\n".join([f"{product()} (runserver, Daphne):", *startup_lines(self.addr, self.port)]))
        return application
