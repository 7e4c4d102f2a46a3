"""The Kubernetes manifests (deploy/kubernetes): rendered by `kubectl kustomize` as users
render them, validated offline against the Kubernetes schemas, and checked for what
keeps a deployment up (probes, non-root, migrations once, references that resolve)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from simulator import config as llmsim_config
from tests.conftest import ROOT

BASE = ROOT / "deploy" / "kubernetes"
QUICKSTART = BASE / "overlays" / "quickstart"
# The oldest Kubernetes the manifests support (autoscaling/v2 and the preStop sleep
# action are on by default from 1.30), and the newest the installed schemas know.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.latest_version()]
SECRET_KEYS = {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "LLMSIM_ADMIN_TOKEN", "LLMSIM_OPS_TOKEN"}


def render(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize DIR`: the objects a user would apply."""
    if shutil.which("kubectl") is None:
        reason = "kubectl is not installed: cannot render the manifests"
        # As for the other tools CI provides (tests/services.py): there, missing is a failure.
        if os.environ.get("LLMSIM_REQUIRE_SERVICES", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (LLMSIM_REQUIRE_SERVICES is set, so this test must run)")
        pytest.skip(reason)
    done = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE)


@pytest.fixture(scope="module")
def quickstart() -> list[dict[str, Any]]:
    return render(QUICKSTART)


def the(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def server_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return the(objects, "Deployment", "llmsim")["spec"]["template"]["spec"]["containers"][0]


def invoked(container: dict[str, Any]) -> list[str]:
    """What the container runs: the Dockerfile's ENTRYPOINT (or `command`) and `args`."""
    entrypoint = container.get("command") or IMAGE_ENTRYPOINT
    return [*entrypoint, *container.get("args", [])]


# The image's ENTRYPOINT, from the top-level Dockerfile (JSON form).
IMAGE_ENTRYPOINT = json.loads(
    re.search(r"^ENTRYPOINT (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE).group(1)
)


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", [BASE, QUICKSTART], ids=["base", "quickstart"])
def test_every_rendered_object_is_valid_for_kubernetes(directory: Path, version: str) -> None:
    objects = render(directory)
    assert len(objects) >= 7
    errors = []
    for o in objects:
        # strict: a field the schema does not know (a typo, a wrong level) is an error.
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(part) for part in exc.path)
            errors.append(f"{o['kind']}/{o['metadata']['name']} at {where}: {exc.message}")
    assert errors == []


def test_the_validation_catches_a_misspelt_field(base: list[dict[str, Any]]) -> None:
    deployment = yaml.safe_load(yaml.safe_dump(the(base, "Deployment", "llmsim")))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_the_server_runs_two_replicas_probed_on_health(base: list[dict[str, Any]]) -> None:
    deployment = the(base, "Deployment", "llmsim")
    assert deployment["spec"]["replicas"] >= 2
    container = server_container(base)
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert set(container["resources"]) == {"requests", "limits"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == ("8000", "/metrics")


def test_the_server_listens_on_all_interfaces_without_migrating(base: list[dict[str, Any]]) -> None:
    command = invoked(server_container(base))
    # tini stays process 1 (it passes SIGTERM on and reaps the workers).
    assert command[:4] == ["tini", "--", "llmsim", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == "8000"
    assert "--no-migrate" in command  # the Job migrates; replicas must not race it


def test_the_server_command_line_is_one_serve_accepts(base: list[dict[str, Any]]) -> None:
    # `llmsim serve` takes `manage.py serve`'s flags: a misspelt one stops every pod.
    from simulator.management.commands.serve import Command

    options = Command().create_parser("manage.py", "serve").parse_args(invoked(server_container(base))[4:])
    assert (options.host, options.port, options.no_migrate) == ("0.0.0.0", "8000", True)


def test_a_replica_starts_serving_only_once_the_database_is_migrated(base: list[dict[str, Any]]) -> None:
    init = the(base, "Deployment", "llmsim")["spec"]["template"]["spec"]["initContainers"]
    # `migrate --check` applies nothing and exits non-zero while migrations are unapplied.
    assert [invoked(c) for c in init] == [["tini", "--", "llmsim", "migrate", "--check"]]
    assert init[0]["image"] == server_container(base)["image"]


def test_the_migration_job_runs_llmsim_migrate_once(base: list[dict[str, Any]]) -> None:
    job = the(base, "Job", "llmsim-migrate")
    assert invoked(job["spec"]["template"]["spec"]["containers"][0]) == ["tini", "--", "llmsim", "migrate"]
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"].get("parallelism", 1) == 1


def test_every_pod_runs_as_non_root_on_a_read_only_root_filesystem(base: list[dict[str, Any]]) -> None:
    env = next(o for o in base if o["kind"] == "ConfigMap" and "LLMSIM_DATA_DIR" in o.get("data", {}))
    data_dir = env["data"]["LLMSIM_DATA_DIR"]
    for name, spec in pod_specs(base):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name
        empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(spec):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            writable = {m["mountPath"] for m in container["volumeMounts"] if m["name"] in empty_dirs}
            assert {"/tmp", data_dir} <= writable, name


def test_the_server_drains_before_it_stops(base: list[dict[str, Any]]) -> None:
    spec = the(base, "Deployment", "llmsim")["spec"]["template"]["spec"]
    sleep = spec["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 0 < sleep < spec["terminationGracePeriodSeconds"]


def test_traffic_and_disruption_budget_reach_the_server_pods_only(base: list[dict[str, Any]]) -> None:
    server_labels = the(base, "Deployment", "llmsim")["spec"]["template"]["metadata"]["labels"]
    job_labels = the(base, "Job", "llmsim-migrate")["spec"]["template"]["metadata"]["labels"]
    service = the(base, "Service", "llmsim")
    for selector in (service["spec"]["selector"], the(base, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= server_labels.items()
        assert not selector.items() <= job_labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]


def test_the_autoscaler_scales_the_server_deployment_on_cpu(base: list[dict[str, Any]]) -> None:
    hpa = the(base, "HorizontalPodAutoscaler", "llmsim")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llmsim"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]


def test_the_base_expects_the_users_secret_named_llmsim(base: list[dict[str, Any]]) -> None:
    assert [o for o in base if o["kind"] == "Secret"] == []
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in server_container(base)["env"] if "valueFrom" in e}
    assert env.keys() >= SECRET_KEYS
    assert {ref["name"] for ref in env.values()} == {"llmsim"}
    assert {name for name, ref in env.items() if not ref.get("optional")} == {
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SECRET_KEY",
    }


def test_every_secret_and_configmap_a_pod_uses_exists_in_the_quickstart(quickstart: list[dict[str, Any]]) -> None:
    rendered = {(o["kind"], o["metadata"]["name"]): set(o.get("data", {})) for o in quickstart}
    used = []  # (pod, kind, name, key or None): every reference a pod could fail to start on
    for pod, spec in pod_specs(quickstart):
        for container in containers(spec):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    used.append((pod, "Secret", source["secretRef"]["name"], None))
                else:
                    used.append((pod, "ConfigMap", source["configMapRef"]["name"], None))
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    used.append((pod, "Secret", ref["name"], ref["key"]))
        used += [(pod, "ConfigMap", v["configMap"]["name"], None) for v in spec.get("volumes", []) if "configMap" in v]
    missing = [
        use for use in used if (use[1], use[2]) not in rendered or (use[3] and use[3] not in rendered[use[1], use[2]])
    ]
    assert missing == []
    assert {pod for pod, *_ in used} == {"Deployment/llmsim", "Job/llmsim-migrate", "StatefulSet/llmsim-postgres"}
    assert {(kind, key) for _, kind, _, key in used} >= {("Secret", "DATABASE_URL"), ("Secret", "REDIS_URL")}


def test_the_quickstart_secret_points_at_its_own_postgres_and_redis(quickstart: list[dict[str, Any]]) -> None:
    secret = next(o for o in quickstart if o["kind"] == "Secret" and "DATABASE_URL" in o["data"])
    values = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    services = {o["metadata"]["name"]: o for o in quickstart if o["kind"] == "Service"}
    assert values["DATABASE_URL"].startswith("postgres://") and "@llmsim-postgres:5432/" in values["DATABASE_URL"]
    assert values["REDIS_URL"] == "redis://llmsim-redis:6379/0"
    assert {"llmsim-postgres", "llmsim-redis"} <= services.keys()
    assert "demo-only" in values["DJANGO_SECRET_KEY"]
    images = {c["image"] for _, spec in pod_specs(quickstart) for c in containers(spec)}
    assert images == {"llmsim:latest", "postgres:16", "redis:7"}


def test_the_config_file_is_mounted_where_llmsim_config_says_and_is_valid(base: list[dict[str, Any]]) -> None:
    env = next(o for o in base if o["kind"] == "ConfigMap" and "LLMSIM_CONFIG" in o.get("data", {}))
    path = Path(env["data"]["LLMSIM_CONFIG"])
    mount = next(m for m in server_container(base)["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(
        v for v in the(base, "Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    config_map = the(base, "ConfigMap", volume["configMap"]["name"])
    text = config_map["data"][path.name]
    config = llmsim_config.check(llmsim_config.parse_document(yaml.safe_load(text), path.name))
    assert config.values  # it sets something: an example worth reading


def test_the_image_is_retagged_by_a_kustomize_images_entry(tmp_path: Path) -> None:
    # What a user's own kustomization does (kustomize takes a relative path only).
    kustomization = {
        "resources": [os.path.relpath(BASE, tmp_path)],
        "images": [{"name": "llmsim", "newName": "registry.example.com/llmsim", "newTag": "1.2.3"}],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    images = {c["image"] for _, spec in pod_specs(render(tmp_path)) for c in containers(spec)}
    assert images == {"registry.example.com/llmsim:1.2.3"}
