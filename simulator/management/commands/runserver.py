"""Daphne's runserver, serving the admin's static files even with DEBUG off.

The admin is the product's UI: a newcomer running `manage.py runserver` must see it
styled without turning DEBUG on or passing --insecure (--nostatic still opts out).
`simulator` is listed before `daphne` in INSTALLED_APPS so that this command wins.
"""

from daphne.management.commands.runserver import Command as DaphneRunserverCommand


class Command(DaphneRunserverCommand):
    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(insecure_serving=True)
