"""Embeddings: a deterministic unit vector per text.

The same text always gets the same vector (in every process and run), different
texts get unrelated ones: enough for code that stores, compares and searches
vectors, though similar texts are not near each other as with a real model.
"""

from __future__ import annotations

import base64
import hashlib
import math
import sys
from array import array


def embedding(text: str, dimensions: int) -> list[float]:
    """A unit-length vector of `dimensions` floats, seeded by `text` alone.

    The components come from SHAKE-256 of the text (C speed: a 3,072-float vector
    costs well under a millisecond, a few times less than drawing Gaussians), so a
    shorter vector is the longer one's start, renormalized, as with OpenAI's
    `dimensions`.
    """
    raw = array("i", hashlib.shake_256(text.encode()).digest(4 * dimensions))
    scale = 1.0 / (math.hypot(*raw) or 1.0)
    return [value * scale for value in raw]


def base64_floats(vector: list[float]) -> str:
    """The vector as base64 of little-endian float32, as OpenAI's encoding_format "base64" sends it."""
    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
