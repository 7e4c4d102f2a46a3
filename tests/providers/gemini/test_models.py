"""GET /{v1beta,v1}/models and /models/{model} in Gemini's shape."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors

from tests.conftest import INSTANT, get_json

LIVE_SERVERS = ("serve",)  # the list's JSON is the same whatever the server


def test_the_sdk_lists_the_google_profiles(genai_client):
    names = [model.name for model in genai_client.models.list()]
    assert "models/gemini-2.5-pro" in names and "models/gemini-2.5-flash" in names
    assert all(name.startswith("models/gemini") for name in names)


def test_a_model_has_its_limits_and_methods(genai_client):
    model = genai_client.models.get(model="gemini-2.5-pro")
    assert model.name == "models/gemini-2.5-pro" and model.display_name == "Gemini 2.5 Pro"
    assert model.input_token_limit == 1_048_576 and model.output_token_limit == 65_536
    assert "generateContent" in model.supported_actions and model.thinking is True


def test_v1beta_pages_with_page_tokens(llmsim_server):
    first = get_json(f"{llmsim_server.base_url}/v1beta/models?pageSize=1&key=k")
    assert len(first["models"]) == 1 and first["nextPageToken"]
    rest = get_json(f"{llmsim_server.base_url}/v1beta/models?pageSize=50&pageToken={first['nextPageToken']}&key=k")
    assert "nextPageToken" not in rest
    assert first["models"][0]["name"] not in [model["name"] for model in rest["models"]]


def test_an_unknown_model_is_not_found(llmsim_server):
    options = {"base_url": llmsim_server.base_url, "headers": INSTANT, "api_version": "v1beta"}
    with genai.Client(api_key="test", http_options=options) as client, pytest.raises(errors.ClientError) as raised:
        client.models.get(model="no-such-model")
    assert raised.value.code == 404 and raised.value.status == "NOT_FOUND"
