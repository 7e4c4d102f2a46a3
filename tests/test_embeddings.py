"""Deterministic embeddings (simulator.engine.embeddings)."""

from __future__ import annotations

import math

from simulator.engine.embeddings import embedding


def test_a_text_always_gets_the_same_unit_vector():
    vector = embedding("hello", 64)
    assert vector == embedding("hello", 64)
    assert len(vector) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0)


def test_different_texts_get_unrelated_vectors():
    one, two = embedding("hello", 256), embedding("goodbye", 256)
    assert abs(sum(a * b for a, b in zip(one, two, strict=True))) < 0.3
