"""kubectl with a user's bearer token, over HTTPS, against the service with token authentication on a real
kube-apiserver with RBAC: kubectl sends ``--token`` only over TLS, so the service serves HTTPS here. alice is
refused where her RBAC refuses her (Forbidden, from Kubernetes itself: the service acts as her) and served where
it allows, and each of her changes is in the audit trail under her name."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.auth.test_auth_modes import World, world  # noqa: F401  (the module's fixture, shared)
from tests.conftest import SERVICE_USER
from tests.kubenative.test_ray_routes import raycluster
from tests.support import processes
from tests.support.kube_apiserver import RealKubeApiServer, find_binaries
from tests.support.tls import make_certificates

pytestmark = pytest.mark.kubeapi


@pytest.fixture(scope="module")
def served(
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[processes.Service]:
    workdir = tmp_path_factory.mktemp("kubectl-tls")
    certificates = make_certificates(workdir / "tls")
    env = {"KUBERAY_APISERVER_AUTH": "token", "KUBERAY_APISERVER_ALLOW_ANONYMOUS": "false"}
    database = f"sqlite+aiosqlite:///{workdir / 'audit.db'}"
    kubeconfig = real_kube.kubeconfig_for(SERVICE_USER)
    with processes.service(workdir, database, kubeconfig, env=env, tls=certificates) as running:
        yield running


def kubectl(
    served: processes.Service, token: str, home: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """The real kubectl, pointed at the service with nothing but flags (no kubeconfig)."""
    binaries = find_binaries()
    assert binaries is not None and served.tls is not None
    return subprocess.run(
        [
            str(binaries[1]),
            "--server",
            served.url,
            "--certificate-authority",
            str(served.tls.ca),
            "--token",
            token,
            "--cache-dir",
            str(home / "cache"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(home), "KUBECONFIG": str(home / "none")},
    )


def test_kubectl_with_alices_token_gets_alices_rbac_and_her_changes_are_audited(
    served: processes.Service,
    real_kube: RealKubeApiServer,
    world: World,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert served.url.startswith("https://") and served.tls is not None
    token = real_kube.token_for("alice")

    # team-b is not hers: Kubernetes refuses her, and kubectl says so.
    refused = kubectl(served, token, tmp_path, "-n", world.team_b, "get", "rayclusters")
    assert refused.returncode != 0, refused.stdout
    assert "Forbidden" in refused.stderr and '"alice"' in refused.stderr, refused.stderr
    assert "system:serviceaccount" not in refused.stderr  # the refusal is hers, not the service's

    # team-a is: apply, get, delete.
    manifest = tmp_path / "raycluster.yaml"
    manifest.write_text(yaml.safe_dump(raycluster("by-alice")))
    applied = kubectl(served, token, tmp_path, "-n", world.team_a, "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    assert "raycluster.ray.io/by-alice created" in applied.stdout, applied.stdout
    got = kubectl(served, token, tmp_path, "-n", world.team_a, "get", "raycluster", "by-alice", "-o", "json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["metadata"]["name"] == "by-alice"
    deleted = kubectl(
        served, token, tmp_path, "-n", world.team_a, "delete", "raycluster", "by-alice", "--wait=false"
    )
    assert deleted.returncode == 0, deleted.stderr
    assert real_kube.kubectl("get", "raycluster", "by-alice", "-n", world.team_a).returncode != 0

    trail = httpx.get(
        f"{served.url}/apis/v1/namespaces/{world.team_a}/audit",
        params={"name": "by-alice"},
        headers={"Authorization": f"Bearer {token}"},
        verify=served.tls.client_context(),
        timeout=30,
    )
    assert trail.status_code == 200, trail.text
    changes = sorted(
        (e["action"], e["outcome"], e["user"], e["authMethod"], e["userAgent"].startswith("kubectl"))
        for e in trail.json()["events"]
    )
    assert changes == [
        ("CREATE", "SUCCESS", "alice", "token", True),
        ("DELETE", "SUCCESS", "alice", "token", True),
    ], trail.text
