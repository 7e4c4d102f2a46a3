"""docker-compose.yml read as a file: what the podman run (test_compose.py) cannot show,
Grafana's provisioning above all (Grafana has no local image here), and what must
agree between the compose file, the load balancer, Prometheus and the dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

REPLICAS = ["llmsim-1", "llmsim-2"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → file or folder of the repository, for the bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def test_every_bind_mount_names_a_file_of_the_repository(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for target, source in mounts(service).items():
            assert source.exists(), (name, target, source)


def test_the_load_balancer_and_prometheus_reach_every_replica(compose: dict[str, Any]) -> None:
    services = compose["services"]
    replicas = sorted(name for name, service in services.items() if "serve" in " ".join(service.get("entrypoint", [])))
    assert replicas == REPLICAS
    haproxy = mounts(services["loadbalancer"])["/usr/local/etc/haproxy/haproxy.cfg"].read_text()
    assert re.findall(r"^\s*server (\S+) (\S+)$", haproxy, re.MULTILINE) == [
        (name, f"{name}:8000") for name in replicas
    ]
    prometheus = yaml.safe_load(mounts(services["prometheus"])["/etc/prometheus/prometheus.yml"].read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["static_configs"] == [{"targets": [f"{name}:8000" for name in replicas]}]


def test_migrations_run_once_and_the_replicas_wait_for_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "llmsim migrate;" in services["migrate"]["entrypoint"][-1]
    for name in REPLICAS:
        script = services[name]["entrypoint"][-1]
        assert script.index("llmsim migrate --check") < script.index("llmsim serve")
        assert "--no-migrate" in script and "migrate" in services[name]["depends_on"]


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    assert grafana["profiles"] == ["grafana"]
    provisioned = mounts(grafana)
    (source,) = yaml.safe_load((provisioned["/etc/grafana/provisioning/datasources"] / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090" and source["isDefault"]
    (provider,) = yaml.safe_load((provisioned["/etc/grafana/provisioning/dashboards"] / "llmsim.yml").read_text())[
        "providers"
    ]
    dashboard_file = provisioned[provider["options"]["path"] + "/llmsim.json"]
    assert dashboard_file == ROOT / "docs" / "grafana-dashboard.json"


def test_the_dashboard_works_provisioned_and_imported_and_counts_each_request_once() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    text = json.dumps(dashboard)
    # A provisioned dashboard gets no import dialog to fill ${DS_...} inputs: its panels
    # use the data source variable, which both ways of loading it fill.
    assert "${DS_" not in text and "__inputs" not in dashboard
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["instance"]["multi"] is False and variables["instance"]["includeAll"] is False
    # Every replica reports the sum of all: each query reads one replica's series.
    expressions = re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', text)
    assert expressions
    for expression in expressions:
        selectors = re.findall(r"llmsim_[a-z_]+(\{[^}]*\})?", expression)
        assert selectors and all('instance=~\\"$instance\\"' in selector for selector in selectors), expression
