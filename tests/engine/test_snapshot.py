"""Model resolution in the snapshot (simulator.engine.snapshot)."""

from __future__ import annotations

import tracemalloc

import pytest

from simulator.engine.snapshot import ModelSpec, Snapshot

GPT_5 = ModelSpec(id="gpt-5", aliases=("gpt-5-chat-latest",))
GPT_5_MINI = ModelSpec(id="gpt-5-mini")
GPT_4O = ModelSpec(id="gpt-4o", aliases=("chatgpt-4o-latest", "my-fast-model"))
SONNET = ModelSpec(id="claude-sonnet-4", provider="anthropic", aliases=("claude-*sonnet*",))
OPUS = ModelSpec(id="claude-opus-4-1", provider="anthropic", aliases=("claude-*opus*",))
GEMINI = ModelSpec(id="Gemini-2.5-Flash", provider="gemini", aliases=("gemini-flash-latest",))
MODELS = (GPT_5, GPT_5_MINI, GPT_4O, SONNET, OPUS, GEMINI)


@pytest.fixture(params=["listed order", "reversed order"])
def snapshot(request) -> Snapshot:
    """The same models in both orders: no rule may depend on the order of the list."""
    models = MODELS if request.param == "listed order" else tuple(reversed(MODELS))
    return Snapshot(models=models)


@pytest.mark.parametrize("spec", MODELS, ids=lambda spec: spec.id)
def test_it_resolves_an_exact_id(snapshot, spec):
    assert snapshot.resolve(spec.id) is spec


@pytest.mark.parametrize(
    ("name", "spec"), [("gpt-5-chat-latest", GPT_5), ("chatgpt-4o-latest", GPT_4O), ("my-fast-model", GPT_4O)]
)
def test_it_resolves_an_exact_alias(snapshot, name, spec):
    assert snapshot.resolve(name) is spec


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("claude-3-5-sonnet-20241022", SONNET),
        ("claude-3-7-sonnet-latest", SONNET),
        ("claude-sonnet-4-5", SONNET),
        ("claude-3-opus-20240229", OPUS),
    ],
)
def test_it_resolves_a_glob_alias(snapshot, name, spec):
    assert snapshot.resolve(name) is spec


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("gpt-5-2025-08-07", GPT_5),
        ("gpt-5-mini-2025-08-07", GPT_5_MINI),
        ("gpt-5-mini", GPT_5_MINI),
        ("gpt-4o-2024-08-06", GPT_4O),
        ("gpt-5.1", GPT_5),
        ("gpt-5:latest", GPT_5),
        ("gpt-5@2025-08-07", GPT_5),
        ("gemini-2.5-flash-001", GEMINI),
        ("gemini-flash-latest-preview", GEMINI),  # extends an exact alias
    ],
)
def test_it_resolves_a_dated_snapshot_to_the_longest_id_it_extends(snapshot, name, spec):
    assert snapshot.resolve(name) is spec


@pytest.mark.parametrize("name", ["gpt-50", "gpt-5x", "gpt-5mini", "gpt-4omni", "gpt", "gpt-", "claude", "o3"])
def test_it_does_not_match_a_name_that_merely_starts_like_an_id(snapshot, name):
    assert snapshot.resolve(name) is None


@pytest.mark.parametrize(
    ("name", "spec"),
    [
        ("GPT-5", GPT_5),
        ("Gpt-5-Mini-2025-08-07", GPT_5_MINI),
        ("CHATGPT-4O-LATEST", GPT_4O),
        ("Claude-3-5-Sonnet-20241022", SONNET),
        ("gemini-2.5-flash", GEMINI),  # the id itself is spelled with capitals
    ],
)
def test_it_resolves_names_case_insensitively(snapshot, name, spec):
    assert snapshot.resolve(name) is spec


def test_an_exact_id_beats_a_glob_alias():
    latest_sonnet = ModelSpec(id="claude-3-5-sonnet-latest")
    snapshot = Snapshot(models=(SONNET, latest_sonnet))
    assert snapshot.resolve("claude-3-5-sonnet-latest") is latest_sonnet
    assert snapshot.resolve("claude-3-5-sonnet-20241022") is SONNET


def test_an_exact_alias_beats_a_glob_alias():
    pinned = ModelSpec(id="pinned", aliases=("claude-3-5-sonnet-20241022",))
    snapshot = Snapshot(models=(SONNET, pinned))
    assert snapshot.resolve("claude-3-5-sonnet-20241022") is pinned


def test_a_glob_alias_beats_a_longest_prefix():
    previews = ModelSpec(id="previews", aliases=("gpt-5-*-preview",))
    snapshot = Snapshot(models=(GPT_5, previews))
    assert snapshot.resolve("gpt-5-audio-preview") is previews
    assert snapshot.resolve("gpt-5-audio") is GPT_5


def test_an_id_beats_another_models_alias_of_the_same_name():
    impostor = ModelSpec(id="impostor", aliases=("gpt-5",))
    snapshot = Snapshot(models=(impostor, GPT_5))
    assert snapshot.resolve("gpt-5") is GPT_5


def test_it_answers_unknown_models_with_the_default_model():
    default = ModelSpec(id="fallback")
    snapshot = Snapshot(models=MODELS, default_model=default)
    assert snapshot.resolve("llama-3-70b") is None
    assert snapshot.model_for("llama-3-70b") is default
    assert snapshot.model_for("gpt-5-2025-08-07") is GPT_5


def test_it_refuses_unknown_models_when_strict():
    snapshot = Snapshot(models=MODELS, strict_models=True)
    assert snapshot.model_for("llama-3-70b") is None
    assert snapshot.model_for("gpt-5-mini-2025-08-07") is GPT_5_MINI


def test_it_answers_every_model_with_the_default_when_there_are_no_models():
    snapshot = Snapshot()
    assert snapshot.model_for("gpt-5") is snapshot.default_model
    assert Snapshot(strict_models=True).model_for("gpt-5") is None


def test_it_gives_the_same_answer_when_asked_again(snapshot):
    for _ in range(3):
        assert snapshot.resolve("gpt-5-mini-2025-08-07") is GPT_5_MINI
        assert snapshot.resolve("llama-3-70b") is None


def test_it_bounds_the_memory_spent_on_names_clients_make_up():
    from simulator.engine.snapshot import RESOLVE_MEMO_LIMIT

    snapshot = Snapshot(models=MODELS)
    for i in range(RESOLVE_MEMO_LIMIT + 500):
        assert snapshot.resolve(f"made-up-model-{i}") is None
    assert len(snapshot._memo) <= RESOLVE_MEMO_LIMIT
    assert snapshot.resolve("gpt-5-2025-08-07") is GPT_5  # still resolves past the cap


def test_it_keeps_no_megabyte_long_model_name():
    snapshot = Snapshot(models=MODELS)
    tracemalloc.start()
    try:
        for i in range(20):
            assert snapshot.resolve(f"gpt-5-{i}" + "x" * 1_000_000) is GPT_5
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < 2_000_000  # twenty names would be 20 MB
