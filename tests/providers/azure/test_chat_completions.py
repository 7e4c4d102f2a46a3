"""Azure OpenAI through openai.AzureOpenAI: chat (whole and streamed), legacy completions, embeddings."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import INSTANT, post

LIVE_SERVERS = ("serve",)  # Azure's routes are the OpenAI logic's, whatever the server

API_VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "Hello from Azure"}]


@pytest.fixture
def azure(llmsim_server):
    with openai.AzureOpenAI(
        azure_endpoint=llmsim_server.base_url,
        api_key="test",
        api_version=API_VERSION,
        max_retries=0,
        default_headers=INSTANT,
    ) as sdk:
        yield sdk


def test_a_deployment_named_like_a_profile_answers_with_the_profile_model(azure):
    raw = azure.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.object == "chat.completion" and completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    # Azure's extras: the content filters' verdicts on the prompt and on each choice.
    body = raw.http_response.json()
    assert body["prompt_filter_results"][0]["content_filter_results"]["jailbreak"] == {
        "filtered": False,
        "detected": False,
    }
    assert body["choices"][0]["content_filter_results"]["hate"] == {"filtered": False, "severity": "safe"}
    headers = raw.http_response.headers
    assert headers["apim-request-id"] and headers["x-request-id"] and headers["x-ms-region"]
    assert headers["x-ms-deployment-name"] == "gpt-4o-mini"
    assert int(headers["x-ratelimit-remaining-requests"]) >= 0
    assert int(headers["x-ratelimit-remaining-tokens"]) >= 0
    assert "openai-version" not in headers


def test_a_raw_request_without_model_in_the_body_is_answered_by_the_deployment(llmsim_server):
    status, headers, body = post(
        llmsim_server,
        f"/openai/deployments/gpt-4o-mini/chat/completions?api-version={API_VERSION}",
        {"messages": MESSAGES},
        INSTANT,
    )
    assert status == 200 and body["model"] == "gpt-4o-mini" and headers["x-ms-deployment-name"] == "gpt-4o-mini"


def test_an_entra_token_is_accepted_as_bearer_auth(llmsim_server):
    with openai.AzureOpenAI(
        azure_endpoint=llmsim_server.base_url,
        azure_ad_token="entra-token",
        api_version=API_VERSION,
        max_retries=0,
        default_headers=INSTANT,
    ) as sdk:
        assert sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content


def test_a_stream_opens_with_the_prompt_filter_chunk(azure):
    chunks = list(
        azure.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    first = chunks[0]
    assert first.choices == [] and first.id == ""
    assert first.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks[1:] if chunk.choices)
    assert text
    assert {chunk.model for chunk in chunks[1:]} == {"gpt-4o-mini"}
    verdicts = [choice.model_extra["content_filter_results"] for chunk in chunks[1:] for choice in chunk.choices]
    assert verdicts and all(verdict["violence"]["severity"] == "safe" for verdict in verdicts)
    assert chunks[-1].usage.completion_tokens > 0


def test_the_stream_helper_of_the_sdk_reads_an_azure_stream(azure):
    with azure.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content


def test_an_alias_names_a_deployment(azure, edit, live_db):
    from simulator.models import ModelProfile

    edit(ModelProfile.objects.using(live_db).get(model_id="gpt-4o-mini"), aliases="contoso-chat")
    completion = azure.chat.completions.create(model="contoso-chat", messages=MESSAGES)
    assert completion.model == "gpt-4o-mini"


def test_legacy_completions_and_embeddings_go_through_deployments(azure):
    completion = azure.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5)
    assert completion.object == "text_completion" and completion.choices[0].text
    assert completion.model_extra["prompt_filter_results"][0]["prompt_index"] == 0
    vectors = azure.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert [item.index for item in vectors.data] == [0, 1]
    assert len(vectors.data[0].embedding) == 1536 and vectors.model == "text-embedding-3-small"


def test_the_v1_path_takes_the_deployment_from_the_body(llmsim_server):
    with openai.OpenAI(
        base_url=f"{llmsim_server.base_url}/openai/v1/", api_key="test", max_retries=0, default_headers=INSTANT
    ) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert raw.parse().model == "gpt-4o-mini" and raw.headers["apim-request-id"]
        streamed = list(sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
        assert sdk.embeddings.create(model="text-embedding-3-small", input="hi").data[0].embedding
        assert sdk.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi", max_tokens=3).choices[0].text
        assert "gpt-4o-mini" in {model.id for model in sdk.models.list()}
    # AzureOpenAI pointed at the v1 base URL sends its api-version, and v1 refuses a dated one.
    with openai.AzureOpenAI(
        base_url=f"{llmsim_server.base_url}/openai/v1/",
        api_key="test",
        api_version="preview",
        max_retries=0,
        default_headers=INSTANT,
    ) as sdk:
        assert sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).model == "gpt-4o-mini"
