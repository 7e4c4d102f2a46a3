"""Azure OpenAI's gateway errors: a missing key, an unknown deployment or path, a missing or
unsupported api-version, each in Azure's `{"error": {"code", "message"}}` with its headers;
the model service's own (a bad parameter) pass through in OpenAI's shape."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest

from simulator.providers.azure.errors import is_supported_version
from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # the errors are the routes', whatever the server

CHAT = "/openai/deployments/gpt-4o-mini/chat/completions"
BODY = {"messages": [{"role": "user", "content": "hi"}]}


def test_dated_api_versions_from_the_first_ga_on_are_supported():
    assert is_supported_version("2022-12-01") and is_supported_version("2025-04-01-preview")
    assert not is_supported_version("2021-06-01")
    assert not is_supported_version("2024-13-01")
    assert not is_supported_version("latest") and not is_supported_version("2024-10-21-beta")


def assert_azure_error(status, headers, body, expected_status, code, words):
    assert status == expected_status
    assert body == {"error": {"code": code, "message": body["error"]["message"]}}
    assert words in body["error"]["message"]
    assert headers["apim-request-id"] and headers["x-ms-region"]


def test_a_missing_key_is_401_access_denied(llmsim_server):
    # By hand: the SDK sends no request without a key.
    status, headers, body = post(llmsim_server, f"{CHAT}?api-version=2024-10-21", BODY, {"Authorization": ""})
    assert_azure_error(status, headers, body, 401, "401", "Access denied due to invalid subscription key")


def test_a_key_in_the_api_key_header_is_enough(llmsim_server):
    status, _, body = post(
        llmsim_server, f"{CHAT}?api-version=2024-10-21", BODY, {"Authorization": "", "api-key": "k", **INSTANT}
    )
    assert status == 200 and body["object"] == "chat.completion"


def test_an_unknown_deployment_in_strict_mode_is_404_deployment_not_found(llmsim_server, edit, live_db):
    from simulator.models import SimulatorSettings

    with openai.AzureOpenAI(
        azure_endpoint=llmsim_server.base_url,
        api_key="test",
        api_version="2024-10-21",
        max_retries=0,
        default_headers=INSTANT,
    ) as sdk:
        # Not strict: the default profile answers, named as the deployment.
        assert sdk.chat.completions.create(model="no-such-deployment", messages=BODY["messages"]).model == (
            "no-such-deployment"
        )
        edit(SimulatorSettings.load(live_db), strict_models=True)
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.chat.completions.create(model="no-such-deployment", messages=BODY["messages"])
    assert caught.value.code == "DeploymentNotFound"
    assert caught.value.body["message"].startswith("The API deployment for this resource does not exist.")
    status, headers, body = post(
        llmsim_server, "/openai/deployments/nope/embeddings?api-version=2024-10-21", {"input": "hi"}
    )
    assert_azure_error(status, headers, body, 404, "DeploymentNotFound", "does not exist")


def test_a_missing_api_version_is_404_resource_not_found(llmsim_server):
    status, headers, body = post(llmsim_server, CHAT, BODY, INSTANT)
    assert_azure_error(status, headers, body, 404, "404", "Resource not found")


def test_an_unsupported_api_version_is_400(llmsim_server):
    for version in ("2019-01-01", "banana"):
        status, headers, body = post(llmsim_server, f"{CHAT}?api-version={version}", BODY, INSTANT)
        assert_azure_error(status, headers, body, 400, "BadRequest", "API version not supported")
    status, headers, body = post(llmsim_server, "/openai/v1/chat/completions?api-version=2024-10-21", BODY)
    assert_azure_error(status, headers, body, 400, "BadRequest", "API version not supported")
    models = f"{llmsim_server.base_url}/openai/v1/models?api-version=2024-10-21"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(models, headers={"api-key": "k"}), timeout=10)
    error = caught.value
    assert_azure_error(error.code, error.headers, json.loads(error.read()), 400, "BadRequest", "not supported")


def test_an_unknown_path_or_a_wrong_verb_under_openai_is_azures_404(llmsim_server):
    status, headers, body = post(llmsim_server, "/openai/deployments/gpt-4o-mini/nothing?api-version=2024-10-21", BODY)
    assert_azure_error(status, headers, body, 404, "404", "Resource not found")
    request = urllib.request.Request(f"{llmsim_server.base_url}{CHAT}?api-version=2024-10-21", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    error = caught.value
    assert_azure_error(error.code, error.headers, json.loads(error.read()), 404, "404", "Resource not found")


def test_a_bad_parameter_is_the_model_services_openai_shaped_400(llmsim_server):
    status, headers, body = post(
        llmsim_server, f"{CHAT}?api-version=2024-10-21", {"messages": BODY["messages"], "temperature": 5}
    )
    assert status == 400 and body["error"]["param"] == "temperature" and body["error"]["type"]
    assert headers["apim-request-id"]
