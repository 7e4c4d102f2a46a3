"""GET /v1/models and /v1/models/{id} in OpenAI's shapes."""

from __future__ import annotations

import openai
import pytest

LIVE_SERVERS = ("serve",)  # the list's JSON is the same whatever the server


def test_it_lists_the_preset_models(client):
    models = client.models.list()
    ids = {m.id for m in models}
    assert {"gpt-5", "gpt-5-mini", "o3", "o4-mini", "gpt-4o", "gpt-4.1", "instant"} <= ids
    assert {"claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-pro", "gemini-2.5-flash"} <= ids
    gpt5 = next(m for m in models if m.id == "gpt-5")
    assert gpt5.object == "model"
    assert gpt5.owned_by == "openai"
    assert isinstance(gpt5.created, int)


def test_it_retrieves_one_model(client):
    model = client.models.retrieve("gpt-4.1")
    assert (model.id, model.object, model.owned_by) == ("gpt-4.1", "model", "openai")


def test_it_retrieves_a_dated_snapshot(client):
    assert client.models.retrieve("gpt-5-2025-08-07").id == "gpt-5-2025-08-07"


def test_an_unknown_model_is_an_openai_404(client):
    with pytest.raises(openai.NotFoundError) as excinfo:
        client.models.retrieve("no-such-model")
    assert excinfo.value.code == "model_not_found"
    assert excinfo.value.body["type"] == "invalid_request_error"
    assert "no-such-model" in excinfo.value.message


def test_health_answers(llmsim_server):
    health = llmsim_server.health()
    assert health["status"] == "ok"
    assert health["model_profiles"] >= 17
