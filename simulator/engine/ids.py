"""Ids for requests and the objects an answer names (chatcmpl-…, msg_…, resp_…)."""

from __future__ import annotations

import random

# Ids only need to be unique, not unguessable: a PRNG is far cheaper than os.urandom.
_ids = random.Random()


def new_id(prefix: str, bits: int = 128) -> str:
    """A random id such as req_3f9c… (`bits` / 4 hex digits; bits a multiple of 8)."""
    # bytes.hex() writes every leading zero: no format specification to parse per id.
    return prefix + _ids.getrandbits(bits).to_bytes(bits // 8).hex()
