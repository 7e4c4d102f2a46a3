"""Ids for requests and the objects an answer names (chatcmpl-…, msg_…, resp_…)."""

from __future__ import annotations

import random

# Ids only need to be unique, not unguessable: a PRNG is far cheaper than os.urandom.
_ids = random.Random()


def new_id(prefix: str, bits: int = 128) -> str:
    """A random id such as req_3f9c… (hex)."""
    return f"{prefix}{_ids.getrandbits(bits):0{bits // 4}x}"
