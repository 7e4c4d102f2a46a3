"""Embeddings: a deterministic unit vector per text.

The same text always gets the same vector (in every process and run), different
texts get unrelated ones: enough for code that stores, compares and searches
vectors, though similar texts are not near each other as with a real model.
"""

from __future__ import annotations

import hashlib
import math
import random


def embedding(text: str, dimensions: int) -> list[float]:
    """A unit-length vector of `dimensions` floats, seeded by `text` alone."""
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    gauss = random.Random(seed).gauss
    values = [gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [value / norm for value in values]
