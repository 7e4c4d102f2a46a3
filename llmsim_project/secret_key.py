"""Which secret key this install signs with (sessions, i.e. admin logins, and other signed values).

`DJANGO_SECRET_KEY` wins. Without it, a random key is generated once per install and
kept in a file (mode 0600) beside the embedded SQLite database, so that admin logins
survive restarts and a local run needs nothing set up. With a server database
(PostgreSQL: the multi-replica case) the file goes to the data directory, and the
server warns: replicas must share one key, which only `DJANGO_SECRET_KEY` gives them.

The workers of `manage.py serve` start together, so the file is created atomically:
each candidate key is written in full to a file of its own, then hard-linked to the
final name, which fails when another process got there first; everyone then reads the
one key that won.

Plain Python: llmsim_project/settings.py calls it before Django is set up.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY_FILE_NAME = ".llmsim-secret-key"
ENVIRONMENT_VARIABLE = "DJANGO_SECRET_KEY"


class SecretKeyError(Exception):
    """The key file cannot be read or written; the message says what to do."""


@dataclass(frozen=True)
class SecretKey:
    value: str
    file: Path | None  # where the generated key is kept; None when it came from DJANGO_SECRET_KEY


def source(file: str | Path | None) -> str:
    """Where the key comes from, as the start-up log says it: DJANGO_SECRET_KEY when there is
    no key file, else e.g. "generated, kept in /srv/llmsim/.llmsim-secret-key"."""
    return f"generated, kept in {file}" if file else ENVIRONMENT_VARIABLE


def is_embedded(database: dict[str, Any]) -> bool:
    """Whether the database is a SQLite file (one machine) rather than a server replicas share."""
    return "sqlite" in database.get("ENGINE", "")


def key_file_for(database: dict[str, Any], project_dir: Path) -> Path:
    """Beside the SQLite database file; in `project_dir` (the data directory) for a server or in-memory database."""
    name = str(database.get("NAME") or "")
    if is_embedded(database) and name and name != ":memory:" and not name.startswith("file:"):
        return Path(name).expanduser().absolute().parent / KEY_FILE_NAME
    return project_dir / KEY_FILE_NAME


def choose(from_environment: str, key_file: Path) -> SecretKey:
    """DJANGO_SECRET_KEY when set (not empty); otherwise the key kept in `key_file`, made on first use."""
    if from_environment:
        return SecretKey(from_environment, None)
    return SecretKey(read_or_create(key_file), key_file)


def read_or_create(path: Path) -> str:
    """The key in `path`; a new random one written there first when there is none."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _unusable(path, exc) from None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        candidate = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(50) + "\n")
                file.flush()
                os.fsync(file.fileno())
            # The whole key appears at once, and only the first one: a process that started at
            # the same time and linked first wins, and this one reads its key.
            with contextlib.suppress(FileExistsError):
                os.link(candidate, path)
        finally:
            candidate.unlink(missing_ok=True)
        return _read(path)
    except OSError as exc:
        raise _unusable(path, exc) from None


def _unusable(path: Path, exc: OSError) -> SecretKeyError:
    return SecretKeyError(
        f"cannot keep a generated secret key in {path} ({exc.strerror or exc}). Set "
        f"{ENVIRONMENT_VARIABLE}, or LLMSIM_SECRET_KEY_FILE to a file in a writable directory."
    )


def _read(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise SecretKeyError(
            f"the secret key file {path} is empty: delete it to have a new key generated "
            f"(admin users log in again), or set {ENVIRONMENT_VARIABLE}."
        )
    return key


def fingerprint(key: str) -> str:
    """A short public token that differs between keys; the key cannot be recovered from it."""
    return hmac.new(key.encode(), b"llmsim secret key fingerprint", hashlib.sha256).hexdigest()[:16]
