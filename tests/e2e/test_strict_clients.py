"""Upstream's own clients decode strictly: protojson with unknown fields rejected (its Go HTTP client), and
dictionaries whose keys it expects (its Python client). Every V1 answer must pass such a decoder built from the
project's protos (which match upstream's), unless the caller asked for the extension fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from google.protobuf import empty_pb2, json_format
from google.protobuf.message import Message
from google.rpc import status_pb2

from service.rpc.proto_gen import cluster_pb2, config_pb2, job_pb2, serve_pb2
from tests.e2e import payloads

pytestmark = pytest.mark.asyncio(loop_scope="session")

# Which message upstream's client decodes each answer into.
SINGLE = {
    "compute_templates": config_pb2.ComputeTemplate,
    "clusters": cluster_pb2.Cluster,
    "jobs": job_pb2.RayJob,
    "services": serve_pb2.RayService,
}
LIST = {
    "compute_templates": config_pb2.ListComputeTemplatesResponse,
    "clusters": cluster_pb2.ListClustersResponse,
    "jobs": job_pb2.ListRayJobsResponse,
    "services": serve_pb2.ListRayServicesResponse,
}
LIST_ALL = {
    "compute_templates": config_pb2.ListAllComputeTemplatesResponse,
    "clusters": cluster_pb2.ListAllClustersResponse,
    "jobs": job_pb2.ListAllRayJobsResponse,
    "services": serve_pb2.ListAllRayServicesResponse,
}


def strict(response: httpx.Response, message_type: type[Message]) -> Message:
    """Decode as upstream's Go client does; errors decode as google.rpc.Status."""
    target: Message = message_type() if response.is_success else status_pb2.Status()
    json_format.Parse(response.text, target, ignore_unknown_fields=False)
    return target


@pytest.mark.parametrize("prefix", ["/apis/v1", "/apis/v1alpha2"])
async def test_every_answer_decodes_strictly(api: httpx.AsyncClient, namespace: str, prefix: str) -> None:
    base = f"{prefix}/namespaces/{namespace}"
    bodies: dict[str, dict[str, Any]] = {
        "compute_templates": payloads.template(namespace),
        "clusters": payloads.cluster(namespace),
        "jobs": payloads.job(namespace),
        "services": payloads.service(namespace),
    }
    names = {kind: body["name"] for kind, body in bodies.items()}
    for kind, body in bodies.items():
        strict(await api.post(f"{base}/{kind}", json=body), SINGLE[kind])
        strict(await api.get(f"{base}/{kind}/{names[kind]}"), SINGLE[kind])
        strict(await api.get(f"{base}/{kind}"), LIST[kind])
        strict(await api.get(f"{prefix}/{kind}"), LIST_ALL[kind])
        paged = {"services": {"pageSize": 1}}.get(kind, {"limit": 1} if kind != "compute_templates" else {})
        strict(await api.get(f"{base}/{kind}", params=paged), LIST[kind])
    strict(
        await api.put(f"{base}/services/{names['services']}", json=bodies["services"]), serve_pb2.RayService
    )
    # Errors: upstream's clients decode google.rpc.Status (only code, message, details).
    for response in (
        await api.get(f"{base}/clusters/missing"),
        await api.post(f"{base}/clusters", json={"name": ""}),
        await api.post(f"{base}/clusters", json=payloads.cluster(namespace)),  # a duplicate
        await api.get(f"{prefix}/nothing-here"),
        await api.patch(f"{base}/clusters/x"),
    ):
        assert not response.is_success
        status = strict(response, status_pb2.Status)
        assert isinstance(status, status_pb2.Status) and status.code and status.message
    for kind in ("services", "jobs", "clusters", "compute_templates"):
        strict(await api.delete(f"{base}/{kind}/{names[kind]}"), empty_pb2.Empty)


async def test_extension_fields_only_when_asked(api: httpx.AsyncClient, namespace: str) -> None:
    url = f"/apis/v1/namespaces/{namespace}/compute_templates"
    created = await api.post(url, json={**payloads.template(namespace), "user": "alice"})
    with pytest.raises(json_format.ParseError):
        json_format.Parse(
            (await api.get(f"{url}/default-template", params={"extensions": "true"})).text,
            config_pb2.ComputeTemplate(),
        )
    strict(created, config_pb2.ComputeTemplate)
    full = (await api.get(url, params={"extensions": "true"})).json()["computeTemplates"][0]
    assert full["user"] == "alice" and full["createdAt"]
