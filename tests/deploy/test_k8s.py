"""deploy/k8s renders, validates against Kubernetes 1.30 (strict) and agrees with the code.

No cluster runs here: `kubectl kustomize` renders the base and both overlays, the
kubernetes-validate package checks every document against the 1.30 schemas with unknown fields
as errors, and tests/deploy/k8s_check.py checks what no schema can (limits, probes, pinned
images, placeholder secrets, Services that select pods, settings and ports). Broken copies show
each check catches what it claims to.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from clfwatch.commands.dashboard import DEFAULT_DASHBOARD_PORT
from clfwatch.commands.service import DEFAULT_PORT as SERVICE_PORT
from core.settings import DEFAULT_API_PORT, DEFAULT_PROBE_METRICS_PORT, Settings, SettingsError, load_settings
from probes.shard import ordinal_from_hostname
from scoring.rules import parse_rules
from tests.deploy.k8s_check import (
    K8S,
    command_port,
    containers,
    load_yaml,
    problems,
    render,
    secret_keys,
)

KUBERNETES_VERSION = "1.30.0"
OVERLAYS = ("base", "overlays/minikube", "overlays/managed-postgres")
EVIDENTLY_PORT = 8502  # docker-compose.yml's, the Evidently UI has no default of ours


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    work = tmp_path_factory.mktemp("k8s")
    return {overlay: render(overlay, work) for overlay in OVERLAYS}


def by_kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_document_is_valid_kubernetes_1_30_strict(rendered, overlay: str) -> None:  # type: ignore[no-untyped-def]
    docs = rendered[overlay]
    assert len(docs) > 20
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_stress_job_is_valid_too() -> None:
    doc = load_yaml(K8S / "jobs" / "stress-run.yaml")
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert problems([doc]) == []


def test_strict_validation_catches_an_unknown_field(rendered) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(by_kind(rendered["base"], "Deployment", "clfwatch-service"))
    doc["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_have_no_problem(rendered, overlay: str) -> None:  # type: ignore[no-untyped-def]
    assert problems(rendered[overlay]) == []


def _container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return by_kind(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]


BREAKS = {
    "no limits": (lambda c: c["resources"].pop("limits"), "no cpu and memory limits"),
    "no probes": (lambda c: c.pop("livenessProbe"), "no readiness and liveness probes"),
    "latest": (lambda c: c.update(image="prom/prometheus:latest"), "is not pinned"),
    "untagged": (lambda c: c.update(image="clfwatch"), "is not pinned"),
    "old version": (lambda c: c.update(image="clfwatch:0.0.9"), "is not the project's version"),
    "writable root": (lambda c: c["securityContext"].update(readOnlyRootFilesystem=False), "writable"),
    "a typo'd setting": (
        lambda c: c.setdefault("env", []).append({"name": "CLFWATCH_PROBE_INTERVAL", "value": "1"}),
        "CLFWATCH_PROBE_INTERVAL is no setting",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_each_check_catches_what_it_claims(rendered, name: str) -> None:  # type: ignore[no-untyped-def]
    docs = copy.deepcopy(rendered["base"])
    mutate, expected = BREAKS[name]
    mutate(_container(docs, "Deployment", "clfwatch-service"))
    found = problems(docs)
    assert len(found) == 1 and expected in found[0], found


def test_a_real_secret_and_a_service_without_pods_are_caught(rendered) -> None:  # type: ignore[no-untyped-def]
    docs = copy.deepcopy(rendered["base"])
    secret = next(d for d in docs if d["kind"] == "Secret")
    secret["data"]["admin-password"] = "aHVudGVyMg=="  # "hunter2"
    by_kind(docs, "Service", "clfwatch-api")["spec"]["selector"]["app.kubernetes.io/component"] = "apii"
    found = problems(docs)
    assert any("admin-password holds a value" in p for p in found)
    assert any("Service/clfwatch-api: selects no pod template" in p for p in found)
    assert len(found) == 2


def test_the_placeholder_secrets_are_refused_by_clfwatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLFWATCH_ADMIN_PASSWORD", "REPLACE-ME")
    with pytest.raises(SettingsError, match="CLFWATCH_ADMIN_PASSWORD: is a placeholder"):
        load_settings()


def test_secret_references_exist_and_settings_have_defaults(rendered) -> None:  # type: ignore[no-untyped-def]
    keys = secret_keys()
    for doc in rendered["base"]:
        for where, c, _init in containers(doc):
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"].startswith("clfwatch-secrets-") and ref["key"] in keys, (where, ref)
    # A setting no manifest sets must run on its code default.
    assert [name for name, f in Settings.model_fields.items() if f.is_required()] == []


def test_ports_agree_with_the_code_defaults(rendered) -> None:  # type: ignore[no-untyped-def]
    docs = rendered["base"]
    expected = {
        "clfwatch-service": SERVICE_PORT, "clfwatch-api": DEFAULT_API_PORT,
        "clfwatch-dashboard": DEFAULT_DASHBOARD_PORT, "clfwatch-evidently": EVIDENTLY_PORT,
    }
    for name, port in expected.items():
        container = _container(docs, "Deployment", name)
        assert container["ports"][0]["containerPort"] == port
        assert command_port(container) == port
        assert by_kind(docs, "Service", name)["spec"]["ports"][0]["port"] == port
    prober = _container(docs, "StatefulSet", "clfwatch-prober")
    env = {e["name"]: e.get("value") for e in prober["env"]}
    assert int(env["CLFWATCH_PROBE_METRICS_PORT"]) == DEFAULT_PROBE_METRICS_PORT
    assert prober["ports"][0]["containerPort"] == DEFAULT_PROBE_METRICS_PORT
    assert env["CLFWATCH_PROBE_METRICS_HOST"] == "0.0.0.0"  # the default 127.0.0.1 is unscrapable


def test_prober_pods_shard_by_their_ordinal(rendered) -> None:  # type: ignore[no-untyped-def]
    sts = by_kind(rendered["base"], "StatefulSet", "clfwatch-prober")
    assert sts["spec"]["replicas"] >= 2
    command = sts["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[-2:] == ["--shard", "auto"]
    name = sts["metadata"]["name"]
    assert [ordinal_from_hostname(f"{name}-{k}") for k in range(3)] == [0, 1, 2]
    assert by_kind(rendered["base"], "Service", name)["spec"]["clusterIP"] == "None"


def test_every_clfwatch_pod_waits_for_the_migration(rendered) -> None:  # type: ignore[no-untyped-def]
    for doc in rendered["base"]:
        for where, c, is_init in containers(doc):
            # The migration itself, and the reference service (it serves without a database).
            command = c.get("command", [])
            if not is_init and command[:1] == ["clfwatch"] and command[1] not in ("db", "service"):
                inits = doc["spec"]["template"]["spec"].get("initContainers", [])
                assert [i["command"][:3] for i in inits] == [["clfwatch", "db", "wait"]], where
    job = by_kind(rendered["base"], "Job", "clfwatch-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:3] == ["clfwatch", "db", "upgrade"]


def test_prometheus_scrapes_the_service_and_each_prober_pod(rendered) -> None:  # type: ignore[no-untyped-def]
    import yaml

    docs = rendered["base"]
    config_map = next(d for d in docs if d["kind"] == "ConfigMap" and "prometheus.yml" in d["data"])
    config = yaml.safe_load(config_map["data"]["prometheus.yml"])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"service", "prober"}  # the Live page queries by these names
    assert all(job["kubernetes_sd_configs"][0]["role"] == "pod" for job in jobs.values())
    rules = next(d for d in docs if d["kind"] == "ConfigMap" and "alerts.yml" in d.get("data", {}))
    assert rules["data"]["alerts.yml"] == (K8S.parent / "prometheus" / "alerts.yml").read_text()
    assert config["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]


def test_managed_postgres_overlay_drops_only_postgres(rendered) -> None:  # type: ignore[no-untyped-def]
    def names(docs: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(d["kind"], d["metadata"]["name"]) for d in docs}

    dropped = names(rendered["base"]) - names(rendered["overlays/managed-postgres"])
    assert dropped == {("StatefulSet", "clfwatch-postgres"), ("Service", "clfwatch-postgres")}


def test_the_rules_config_map_parses_and_reaches_whoever_grades(rendered) -> None:  # type: ignore[no-untyped-def]
    parse_rules((K8S / "base" / "rules.toml").read_text())
    for name in ("clfwatch-dashboard", "clfwatch-api"):
        pod = by_kind(rendered["base"], "Deployment", name)["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "rules")
        volume = next(v for v in pod["volumes"] if v["name"] == "rules")
        assert env["CLFWATCH_RULES_FILE"] == f"{mount['mountPath']}/rules.toml"
        assert volume["configMap"]["name"].startswith("clfwatch-rules-")


def test_secrets_env_is_never_committed() -> None:
    ignored = (K8S.parents[1] / ".gitignore").read_text().splitlines()
    assert "deploy/k8s/base/secrets.env" in ignored
    assert not (K8S / "base" / "secrets.env").exists() or Path(".git").exists()
