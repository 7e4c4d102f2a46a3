"""RequestHeaders: a request's headers read by name, decoded on lookup, as a dict of them would be."""

from __future__ import annotations

import pytest

from simulator.server.http import RequestHeaders

PAIRS = [
    (b"authorization", b"Bearer k"),
    (b"x-llmsim-tokens", b"7"),
    (b"x-caf\xe9", b"cr\xe8me"),  # latin-1 bytes, as ASGI servers hand over any byte
    (b"x-repeated", b"first"),
    (b"x-repeated", b"last"),
]
AS_DICT = {name.decode("latin-1"): value.decode("latin-1") for name, value in PAIRS}


def test_it_reads_like_the_dict_of_the_decoded_pairs():
    headers = RequestHeaders(PAIRS)
    assert dict(headers) == AS_DICT == {**AS_DICT, "x-repeated": "last"}  # a repeated name: its last value
    assert headers.get("authorization") == "Bearer k" and headers["x-llmsim-tokens"] == "7"
    assert headers.get("x-café") == "crème"
    assert len(headers) == len(AS_DICT) and sorted(headers) == sorted(AS_DICT)
    assert list(headers.items()) == list(AS_DICT.items())


@pytest.mark.parametrize("name", ["x-missing", "Authorization", "名前", ""])
def test_a_name_it_does_not_hold_is_missing_however_it_is_spelt(name):
    headers = RequestHeaders(PAIRS)
    assert headers.get(name) is None and headers.get(name, "default") == "default"
    assert name not in headers
    with pytest.raises(KeyError):
        headers[name]


def test_only_strings_are_names():
    headers = RequestHeaders(PAIRS)
    assert b"authorization" not in headers and None not in headers
