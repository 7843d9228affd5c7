"""Abuse cases through the shared services: cross-site requests, oversized and deeply nested bodies,
out-of-range ids, replica bounds."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.conftest import CORS_ORIGIN
from tests.e2e import payloads
from tests.e2e.test_clusters import make_template

pytestmark = pytest.mark.asyncio(loop_scope="session")


# -- cross-site requests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example", "Content-Type": "text/plain"},
        {"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
    ],
    ids=["other origin", "opaque origin", "fetch metadata", "text/plain form", "urlencoded form"],
)
async def test_cross_site_changes_are_refused(
    api: httpx.AsyncClient, namespace: str, headers: dict[str, str]
) -> None:
    body = json.dumps(payloads.template(namespace, "csrf")).encode()
    response = await api.post(
        f"/apis/v1/namespaces/{namespace}/compute_templates", content=body, headers=headers
    )
    assert response.status_code == 403 and response.json()["code"] == 7, response.text
    delete = await api.delete(f"/apis/v1/namespaces/{namespace}/compute_templates/csrf", headers=headers)
    assert delete.status_code == 403
    assert (await api.get(f"/apis/v1/namespaces/{namespace}/compute_templates/csrf")).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": CORS_ORIGIN}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}],
    ids=["plain client", "allowed origin", "same origin", "typed by the user"],
)
async def test_plain_clients_and_allowed_origins_still_work(
    api: httpx.AsyncClient, namespace: str, headers: dict[str, str]
) -> None:
    response = await api.post(
        f"/apis/v1/namespaces/{namespace}/compute_templates",
        json=payloads.template(namespace),
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def test_the_services_own_pages_may_change_things(api: httpx.AsyncClient, namespace: str) -> None:
    """The Swagger UI is served by the service itself: its requests carry the service's own origin."""
    origin = str(api.base_url).rstrip("/")
    response = await api.post(
        f"/apis/v1/namespaces/{namespace}/compute_templates",
        json=payloads.template(namespace),
        headers={"Origin": origin},
    )
    assert response.status_code == 200, response.text


# -- bad input -----------------------------------------------------------------------------------------------


async def test_deeply_nested_and_oversized_bodies_are_4xx(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/apis/v1/namespaces/{namespace}/clusters"
    for depth in (1000, 100_000):
        nested = '{"name": "x", "annotations": ' + "[" * depth + "]" * depth + "}"
        response = await api.post(url, content=nested.encode())
        assert response.status_code == 400 and response.json()["code"] == 3, response.text[:200]
    huge = json.dumps({**payloads.cluster(namespace), "annotations": {"a": "x" * (11 * 1024 * 1024)}})
    response = await api.post(url, content=huge.encode())
    assert response.status_code == 413 and response.json()["code"] == 8, response.text[:200]


@pytest.mark.parametrize("event_id", ["9" * 26, "99999999999999999999", "-1", "0", "\uff11\uff12", "1e3"])
async def test_out_of_range_audit_ids_are_4xx(api: httpx.AsyncClient, event_id: str) -> None:
    for path in (f"/apis/v1/audit/{event_id}", f"/apis/v1/namespaces/ray-system/audit/{event_id}"):
        response = await api.get(path)
        assert response.status_code in (400, 404), (path, response.text)
        assert response.json()["code"] in (3, 5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"replicas": -1, "minReplicas": 0, "maxReplicas": 5}, "Replicas can not be negative"),
        (
            {"replicas": 7, "minReplicas": 0, "maxReplicas": 5},
            "Replicas must be between MinReplicas (0) and MaxReplicas (5), got 7",
        ),
        ({"replicas": 1, "minReplicas": 2, "maxReplicas": 5}, "Replicas must be between MinReplicas (2)"),
        ({"replicas": 1, "minReplicas": -2, "maxReplicas": 5}, "MinReplicas can not be negative"),
    ],
    ids=["negative", "above max", "below min", "negative min"],
)
async def test_replicas_outside_their_bounds_are_refused(
    api: httpx.AsyncClient, namespace: str, change: dict[str, int], message: str
) -> None:
    await make_template(api, namespace)
    for kind, body in (
        ("clusters", payloads.cluster(namespace, "bounds")),
        ("jobs", payloads.job(namespace, "bounds")),
        ("services", payloads.service(namespace, "bounds")),
    ):
        body["clusterSpec"]["workerGroupSpec"][0].update(change)
        response = await api.post(f"/apis/v1/namespaces/{namespace}/{kind}", json=body)
        assert response.status_code == 400, response.text
        assert f"WorkerNodeSpec 0 {message}" in response.json()["message"]
        assert (await api.get(f"/apis/v1/namespaces/{namespace}/{kind}/bounds")).status_code == 404
