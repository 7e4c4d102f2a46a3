"""Admin edits reach the running server within about a second, without a restart."""

from __future__ import annotations

import time

import openai
import pytest

from simulator.models import ModelProfile, SimulatorSettings

USER = [{"role": "user", "content": "hi"}]


def time_to_first_token(client, model: str) -> float:
    started = time.monotonic()
    for chunk in client.chat.completions.create(
        model=model, messages=USER, stream=True, extra_headers={"x-llmsim-tokens": "2"}
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            return time.monotonic() - started
    raise AssertionError("no content")


def test_editing_a_profile_changes_the_latency_served(client, live_db, edit, llmsim_server):
    profile = ModelProfile.objects.using(live_db).get(model_id="instant")
    assert time_to_first_token(client, "instant") < 0.2
    saved_at = time.monotonic()
    # edit() saves through the ORM (as the admin does) and waits for the server's snapshot.
    edit(profile, ttft_mean_ms=400, ttft_stddev_ms=0)
    assert time.monotonic() - saved_at < 2.0
    assert 0.38 <= time_to_first_token(client, "instant") < 1.0


def test_strict_mode_turns_unknown_models_into_404(client, live_db, edit):
    assert client.chat.completions.create(model="unknown-model-x", messages=USER, max_tokens=1)
    edit(SimulatorSettings.objects.using(live_db).get(pk=1), strict_models=True)
    with pytest.raises(openai.NotFoundError) as excinfo:
        client.chat.completions.create(model="unknown-model-x", messages=USER, max_tokens=1)
    assert excinfo.value.code == "model_not_found"
    # Known models, dated snapshots included, still answer.
    assert client.chat.completions.create(model="gpt-4o-2024-11-20", messages=USER, max_tokens=1)


def test_a_new_profile_appears_in_the_model_list(client, live_db, llmsim_server):
    from simulator.state.snapshots import read_version

    profile = ModelProfile.objects.using(live_db).create(model_id="my-new-model", owned_by="me")
    try:
        llmsim_server.wait_for_version(read_version(live_db))
        assert client.models.retrieve("my-new-model").owned_by == "me"
    finally:
        profile.delete(using=live_db)
        llmsim_server.wait_for_version(read_version(live_db))
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("my-new-model")


def test_changing_the_generator_changes_the_answer(client, live_db, edit):
    edit(SimulatorSettings.objects.using(live_db).get(pk=1), generator="echo")
    completion = client.chat.completions.create(
        model="instant", messages=[{"role": "user", "content": "repeat after me"}]
    )
    assert completion.choices[0].message.content == "repeat after me"
