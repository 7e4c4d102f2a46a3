"""Create an admin login on a fresh install, without an interactive prompt."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

# Beside the database and the secret key: the checkout, or the `llmsim` command's data directory.
PASSWORD_FILE = Path(settings.LLMSIM_DATA_DIR) / ".llmsim-admin-password"


class Command(BaseCommand):
    help = (
        "Create the superuser 'admin' unless a superuser exists. The password comes from "
        "LLMSIM_ADMIN_PASSWORD, or is generated and written to .llmsim-admin-password."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("LLMSIM_ADMIN_USER", "admin"))

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "An admin login exists already (reset its password with: python manage.py changepassword admin, "
                "or llmsim manage changepassword admin)."
            )
            return
        # Set but empty (a compose file's or a template's blank) counts as not set.
        chosen = os.environ.get("LLMSIM_ADMIN_PASSWORD", "")
        password = chosen or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if chosen:
            self.stdout.write(f"Created admin login '{username}' with the password from LLMSIM_ADMIN_PASSWORD.")
            return
        PASSWORD_FILE.write_text(password + "\n")
        PASSWORD_FILE.chmod(0o600)
        self.stdout.write(f"Created admin login '{username}', password: {password} (also saved in {PASSWORD_FILE})")
