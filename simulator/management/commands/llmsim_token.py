"""Print a staff user's management API token: `TOKEN=$(python manage.py llmsim_token)`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of a staff user (default: admin) for the management API at /llmsim/api/ "
        "(send it as 'Authorization: Token <key>' or 'Bearer <key>'); creates the token on first use."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username", nargs="?", default="admin")
        parser.add_argument(
            "--create", action="store_true", help="Create the user (staff, no password) if it does not exist."
        )
        parser.add_argument("--regenerate", action="store_true", help="Replace the token; the old one stops working.")

    def handle(self, *args, username: str, create: bool, regenerate: bool, **options) -> None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise CommandError(
                    f"No user '{username}'. Create it with --create, or an admin with manage.py ensure_admin."
                )
            user = User.objects.create_user(username=username, password=None, is_staff=True)
        if not (user.is_staff and user.is_active):
            raise CommandError(f"'{username}' is not an active staff user; the management API lets in staff only.")
        if regenerate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
