"""What a schema cannot check in the rendered deploy/k8s manifests: one list of problems.

Kept apart from the test so that the test can show, on deliberately broken copies, that each
check catches what it claims to (as tests/deploy/compose_check.py does for compose).
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
PLACEHOLDER = "REPLACE-ME"


def render(overlay: str, workdir: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of ``deploy/k8s/<overlay>`` in a copy whose secrets.env is the example."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # scripts/system-deps.sh installs it; a missing tool is a failure, not a skip
        raise AssertionError("kubectl is not installed: run `make sysdeps` (scripts/system-deps.sh)")
    copy = workdir / "deploy"
    if not copy.exists():
        shutil.copytree(REPO_ROOT / "deploy", copy, ignore=shutil.ignore_patterns("secrets.env"))
        base = copy / "k8s" / "base"
        shutil.copy(base / "secrets.env.example", base / "secrets.env")
    done = subprocess.run([kubectl, "kustomize", str(copy / "k8s" / overlay)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    if doc.get("kind") in WORKLOADS:
        return doc["spec"]["template"]["spec"]
    return None


def containers(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(where, container, is_init) for every container of a workload."""
    spec = pod_spec(doc)
    if spec is None:
        return
    name = f"{doc['kind']}/{doc['metadata'].get('name') or doc['metadata'].get('generateName')}"
    for c in spec.get("initContainers", []):
        yield f"{name} init {c['name']}", c, True
    for c in spec.get("containers", []):
        yield f"{name} {c['name']}", c, False


def project_version() -> str:
    with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def problems(docs: list[dict[str, Any]]) -> list[str]:
    """Everything wrong with a rendered set of manifests; [] when it is fine."""
    from core.settings import Settings

    found: list[str] = []
    fields = {f"CLFWATCH_{name.upper()}" for name in Settings.model_fields}
    version = project_version()
    templates = [
        (doc["metadata"].get("name", ""), doc["spec"]["template"]["metadata"].get("labels", {}))
        for doc in docs if doc.get("kind") in WORKLOADS
    ]
    for doc in docs:
        kind = doc.get("kind")
        name = doc["metadata"].get("name") or doc["metadata"].get("generateName", "?")
        for where, c, is_init in containers(doc):
            limits = c.get("resources", {}).get("limits", {})
            if not {"cpu", "memory"} <= set(limits):
                found.append(f"{where}: no cpu and memory limits")
            if not c.get("resources", {}).get("requests"):
                found.append(f"{where}: no requests")
            if kind != "Job" and not is_init and not (c.get("readinessProbe") and c.get("livenessProbe")):
                found.append(f"{where}: no readiness and liveness probes")
            image = c.get("image", "")
            repo, _, tag = image.rpartition(":") if ":" in image else (image, "", "")
            if not tag or tag == "latest":
                found.append(f"{where}: image {image!r} is not pinned")
            elif repo == "clfwatch" and tag != version:
                found.append(f"{where}: image {image!r} is not the project's version {version}")
            security = c.get("securityContext", {})
            if not security.get("readOnlyRootFilesystem"):
                found.append(f"{where}: root file system is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                found.append(f"{where}: privilege escalation allowed")
            for env in c.get("env", []):
                if env["name"].startswith("CLFWATCH_") and env["name"] not in fields:
                    found.append(f"{where}: {env['name']} is no setting of core/settings.py")
        spec = pod_spec(doc)
        if spec is not None and not spec.get("securityContext", {}).get("runAsNonRoot"):
            found.append(f"{kind}/{name}: pods may run as root")
        if kind == "Secret":
            for key, value in doc.get("data", {}).items():
                text = base64.b64decode(value).decode()
                if text and PLACEHOLDER not in text:
                    found.append(f"Secret/{name}: {key} holds a value that is not a placeholder")
            for key, text in doc.get("stringData", {}).items():
                if text and PLACEHOLDER not in text:
                    found.append(f"Secret/{name}: {key} holds a value that is not a placeholder")
        if kind == "Service":
            selector = doc["spec"].get("selector") or {}
            if not selector or not any(selector.items() <= labels.items() for _n, labels in templates):
                found.append(f"Service/{name}: selects no pod template")
    return found


def secret_keys() -> set[str]:
    """The keys of secrets.env.example: what the manifests may reference."""
    lines = (K8S / "base" / "secrets.env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def command_port(container: dict[str, Any]) -> int | None:
    """The ``--port N`` of a container's command, if it has one."""
    argv = [str(a) for a in container.get("command", [])] + [str(a) for a in container.get("args", [])]
    if "--port" in argv:
        return int(argv[argv.index("--port") + 1])
    return None


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
