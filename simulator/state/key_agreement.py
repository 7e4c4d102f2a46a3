"""Say which secret key a server process signs with, and warn when its peers sign with another.

Replicas behind one load balancer must share DJANGO_SECRET_KEY: a session (an admin
login) signed by one is refused by the others, so users are logged out at random. Each
server process publishes a fingerprint of its key (an HMAC of a fixed text: the key
cannot be recovered from it) with an expiry, at start and every REFRESH_SECONDS, and
reads its peers': through Redis when REDIS_URL is set, otherwise through the database
(the KeyFingerprint table). A fingerprint that differs from
its own is logged once as a warning naming the fix. Fingerprints of stopped processes
expire after TTL_SECONDS, so after a key change and a restart of every replica the
warning stops within that time.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from llmsim_project import secret_key

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
TTL_SECONDS = 90


class RedisFingerprints:
    """A sorted set of fingerprints, each scored by when a process last published it."""

    name = "Redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.key = f"{prefix}:secret-key-fingerprints"

    def exchange(self, mine: str) -> set[str]:
        """Publish `mine`; every fingerprint published within TTL_SECONDS (`mine` included)."""
        now = time.time()
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(self.key, {mine: now})
            pipe.zremrangebyscore(self.key, "-inf", now - TTL_SECONDS)
            pipe.zrange(self.key, 0, -1)
            pipe.expire(self.key, TTL_SECONDS)
            _, _, members, _ = pipe.execute()
        return {member.decode() for member in members}


class DatabaseFingerprints:
    """Rows of the KeyFingerprint table, each with an expiry, in the database the processes share."""

    name = "database"

    def exchange(self, mine: str) -> set[str]:
        from simulator.models import KeyFingerprint

        close_old_connections()
        now = timezone.now()
        KeyFingerprint.objects.update_or_create(
            fingerprint=mine, defaults={"expires": now + timedelta(seconds=TTL_SECONDS)}
        )
        KeyFingerprint.objects.filter(expires__lte=now).delete()
        return set(KeyFingerprint.objects.values_list("fingerprint", flat=True))


class KeyAgreement:
    """This process's fingerprint and the differing ones it has warned about."""

    def __init__(self, store: RedisFingerprints | DatabaseFingerprints, mine: str) -> None:
        self.store = store
        self.mine = mine
        self.warned: set[str] = set()
        self.failing = False

    def check(self) -> None:
        try:
            others = self.store.exchange(self.mine) - {self.mine}
        except Exception as exc:  # the store is away: nothing to compare with, try again later
            if not self.failing:
                logger.warning(
                    "secret key: cannot compare with other processes through the %s: %s", self.store.name, exc
                )
            self.failing = True
            return
        self.failing = False
        for other in sorted(others - self.warned):
            logger.warning(
                "secret key: another LLMSim process sharing this %s signs with a different key (its "
                "fingerprint %s, this process's %s): a session (admin login) made by one is refused by "
                "the other. Set DJANGO_SECRET_KEY to the same value on every replica.",
                self.store.name,
                other,
                self.mine,
            )
        self.warned |= others

    def run(self) -> None:
        while True:
            time.sleep(REFRESH_SECONDS)
            self.check()


def start() -> None:
    """Log the key's source, compare fingerprints once, then keep comparing in a daemon thread.

    Called once per server process at start, outside the event loop (it may query the database).
    """
    source = secret_key.source(settings.LLMSIM_SECRET_KEY_FILE)
    database = settings.DATABASES["default"]
    if settings.LLMSIM_SECRET_KEY_FILE and not secret_key.is_embedded(database):
        logger.warning(
            "secret key: %s, but the database is shared (%s): replicas that each generate their own "
            "key refuse each other's sessions (admin logins). Set DJANGO_SECRET_KEY to one random "
            "value on every replica.",
            source,
            database["ENGINE"].rsplit(".", 1)[-1],
        )
    else:
        logger.info("secret key: %s", source)
    if settings.REDIS_URL:
        store: RedisFingerprints | DatabaseFingerprints = RedisFingerprints(
            settings.REDIS_URL, settings.LLMSIM_REDIS_PREFIX
        )
    else:
        store = DatabaseFingerprints()
    agreement = KeyAgreement(store, secret_key.fingerprint(settings.SECRET_KEY))
    agreement.check()
    threading.Thread(target=agreement.run, name="llmsim-key-agreement", daemon=True).start()
