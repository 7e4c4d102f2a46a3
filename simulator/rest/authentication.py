"""Who may use the management API: staff users, by API token or admin session, and LLMSIM_ADMIN_TOKEN."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import TokenAuthentication


class AdminTokenHolder(AnonymousUser):
    """Whoever sends LLMSIM_ADMIN_TOKEN: staff, without a user row."""

    username = "LLMSIM_ADMIN_TOKEN"
    is_staff = True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_authenticated(self) -> bool:
        return True


class BearerAuthentication(TokenAuthentication):
    """`Authorization: Bearer <key>`: a user's API token (also accepted as `Token <key>`), or
    LLMSIM_ADMIN_TOKEN, the token POST /llmsim/reset takes too."""

    keyword = "Bearer"

    def authenticate_credentials(self, key: str):
        expected = settings.LLMSIM_ADMIN_TOKEN
        if expected and hmac.compare_digest(key.encode(), expected.encode()):
            return AdminTokenHolder(), key
        return super().authenticate_credentials(key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="llmsim"'
