"""Ids (simulator.engine.ids): a prefix and a fixed number of hex digits."""

from __future__ import annotations

import re

from simulator.engine.ids import new_id


def test_an_id_is_its_prefix_and_a_quarter_of_its_bits_in_hex_digits():
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{24}", new_id("chatcmpl-", 96))
    assert re.fullmatch(r"req_[0-9a-f]{32}", new_id("req_"))


def test_leading_zeros_are_kept():
    # One id in 16 of 8 bits starts with a zero digit: of 500, some do, and all are two digits long.
    ids = [new_id("", 8) for _ in range(500)]
    assert {len(i) for i in ids} == {2}
    assert any(i.startswith("0") for i in ids)


def test_ids_differ():
    assert len({new_id("x_", 96) for _ in range(1000)}) == 1000
