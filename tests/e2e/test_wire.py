"""The wire contract: routing, error shapes, lenient decoding, and no 500 for any input."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from tests.e2e import payloads
from tests.e2e.test_clusters import make_template

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_unknown_paths_are_json_404(api: httpx.AsyncClient) -> None:
    for path in (
        "/",
        "/apis/v1/nothing",
        "/apis/v1/image_templates",
        "/apis/v1/namespaces/ns/image_templates",
    ):
        response = await api.get(path)
        assert (response.status_code, response.json()) == (404, {"code": 5, "message": "Not Found"}), path


async def test_wrong_method_is_405_unimplemented(api: httpx.AsyncClient, namespace: str) -> None:
    for method, path in (
        ("PATCH", f"/apis/v1/namespaces/{namespace}/services/x"),
        ("PUT", f"/apis/v1/namespaces/{namespace}/clusters/x"),
        ("POST", "/apis/v1/clusters"),
    ):
        response = await api.request(method, path)
        assert (response.status_code, response.json()) == (405, {"code": 12, "message": "Method Not Allowed"})


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b"null",
        b"42",
        b'"x"',
        b'{"cpu": "abc"}',
        b'{"cpu": -1}',
        b'{"cpu": 1e30}',
        b'{"cpu": 99999999999999999999999}',
        b'{"tolerations": {}}',
        b'{"extendedResources": []}',
        b'{"name": 5}',
        b"\xff\xfe",
        b'{"name": "\\ud800"}',
    ],
)
async def test_bad_template_bodies_are_400(api: httpx.AsyncClient, namespace: str, content: bytes) -> None:
    response = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3 and response.json()["message"]


async def test_enums_by_name_or_number(api: httpx.AsyncClient, namespace: str) -> None:
    await make_template(api, namespace)
    body = payloads.cluster(namespace, "by-number")
    body["environment"] = 3
    by_number = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)
    assert by_number.status_code == 200 and by_number.json()["environment"] == 3
    body = payloads.cluster(namespace, "by-name")
    body["environment"] = "PRODUCTION"
    assert (await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)).json()["environment"] == 3
    body["environment"] = "NOT_AN_ENVIRONMENT"
    unknown = await api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body)
    assert unknown.status_code == 400 and "NOT_AN_ENVIRONMENT" in unknown.json()["message"]


async def test_one_field_in_two_spellings_is_400(api: httpx.AsyncClient, namespace: str) -> None:
    body = {**payloads.template(namespace), "memoryUnit": "Gi", "memory_unit": "Mi"}
    response = await api.post(f"/apis/v1/namespaces/{namespace}/compute_templates", json=body)
    assert response.status_code == 400 and "memoryUnit" in response.json()["message"]


async def test_unknown_fields_and_output_only_fields_are_ignored(
    api: httpx.AsyncClient, namespace: str
) -> None:
    body = {
        **payloads.template(namespace),
        "numCpus": 3,
        "createdAt": "2020-01-01T00:00:00Z",
        "whatever": {"a": 1},
    }
    response = await api.post(
        f"/apis/v1/namespaces/{namespace}/compute_templates", json=body, params={"extensions": "true"}
    )
    assert response.status_code == 200 and response.json()["createdAt"] != "2020-01-01T00:00:00Z"


@pytest.mark.parametrize("name", ["Ünïcødé", "名前", "UPPER", "a" * 300, "bad_name", "-lead"])
async def test_names_kubernetes_refuses_are_400(api: httpx.AsyncClient, namespace: str, name: str) -> None:
    await make_template(api, namespace)
    for kind, body in (
        ("compute_templates", payloads.template(namespace, name)),
        ("clusters", payloads.cluster(namespace, name)),
        ("jobs", payloads.job(namespace, name)),
        ("services", payloads.service(namespace, name)),
    ):
        response = await api.post(f"/apis/v1/namespaces/{namespace}/{kind}", json=body)
        assert response.status_code == 400, (kind, response.text)
        assert response.json()["code"] == 3
        assert (await api.get(f"/apis/v1/namespaces/{namespace}/{kind}/{name}")).status_code in (400, 404)


def _mutations(value: Any, rng: random.Random) -> Any:
    """Replace a random part of a JSON document with a value of a random other type."""
    junk = [None, 0, -1, 2**70, 1.5, "", "x" * 5, "CONFIGMAP", True, [], {}, [1, "a"], {"a": [None]}]
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        return {**value, key: _mutations(value[key], rng)}
    if isinstance(value, list) and value and rng.random() < 0.8:
        index = rng.randrange(len(value))
        return [*value[:index], _mutations(value[index], rng), *value[index + 1 :]]
    return rng.choice(junk)


async def test_no_input_causes_a_500(api: httpx.AsyncClient, namespace: str) -> None:
    """Randomly corrupted versions of valid bodies always get a 4xx or a 200, never a 5xx."""
    await make_template(api, namespace)
    rng = random.Random(20261125)
    bases = {
        "compute_templates": payloads.template(namespace, "fuzz"),
        "clusters": payloads.cluster(namespace, "fuzz"),
        "jobs": payloads.job(namespace, "fuzz"),
        "services": payloads.service(namespace, "fuzz"),
    }
    for round_ in range(60):
        for kind, base in bases.items():
            body = _mutations(base, rng)
            response = await api.post(f"/apis/v1/namespaces/{namespace}/{kind}", content=json.dumps(body))
            assert response.status_code < 500, (round_, kind, body, response.text)
            assert set(response.json()) >= ({"code", "message"} if response.status_code >= 400 else set())
            if response.status_code == 200:
                assert (
                    await api.delete(f"/apis/v1/namespaces/{namespace}/{kind}/{response.json()['name']}")
                ).status_code == 200


async def test_openapi_swagger_metrics_and_request_ids(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/schema/openapi.json")).json()
    operations = {op["operationId"] for methods in schema["paths"].values() for op in methods.values()}
    assert {
        "CreateCluster",
        "GetCluster",
        "ListCluster",
        "ListAllClusters",
        "DeleteCluster",
        "CreateComputeTemplate",
        "CreateRayJob",
        "UpdateRayService",
        "ListRayServices",
        "ListAuditEvents",
    } <= operations
    create = schema["paths"]["/apis/v1/namespaces/{namespace}/clusters"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Cluster"
    }
    assert "Cluster" in schema["components"]["schemas"]
    swagger = await api.get("/swagger-ui/", follow_redirects=True)
    assert swagger.status_code == 200 and "/schema/static/swagger-ui-bundle.js" in swagger.text
    assert (await api.get("/schema/static/swagger-ui-bundle.js")).status_code == 200
    await api.get("/apis/v1/clusters")
    metrics = (await api.get("/metrics")).text
    assert (
        'kuberay_apiserver_requests_total{code="200",operation="ListAllClusters",protocol="http"}' in metrics
    )
    assert "kuberay_apiserver_request_duration_seconds_bucket" in metrics
    response = await api.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "abc123"


async def test_cors_for_the_configured_origin_only(api: httpx.AsyncClient) -> None:
    from tests.conftest import CORS_ORIGIN

    preflight = await api.options(
        "/apis/v1/clusters",
        headers={"Origin": CORS_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == CORS_ORIGIN
    listed = await api.get("/apis/v1/clusters", headers={"Origin": CORS_ORIGIN})
    assert listed.headers["access-control-allow-origin"] == CORS_ORIGIN
    other = await api.get("/apis/v1/clusters", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
