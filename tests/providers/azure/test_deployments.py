"""Declaring a deployment: an alias of a model profile, from a YAML file as from the admin."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from simulator.state.snapshots import build_snapshot

pytestmark = pytest.mark.django_db


def test_a_deployment_declared_in_yaml_names_its_profile(tmp_path):
    config = tmp_path / "deployments.yaml"
    config.write_text('model_profiles: [{model_id: gpt-4o, aliases: "contoso-chat, contoso-chat-eu"}]\n')
    call_command("llmsim_import", str(config), stdout=io.StringIO())
    snapshot = build_snapshot()
    assert snapshot.model_for("contoso-chat").id == "gpt-4o"
    assert snapshot.model_for("contoso-chat-eu").id == "gpt-4o"
    # A deployment named after a profile's id (or a dated name it extends) needs no alias.
    assert snapshot.model_for("gpt-4o-mini-prod").id == "gpt-4o-mini"
