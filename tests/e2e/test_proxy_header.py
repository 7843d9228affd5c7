"""``--auth proxy`` on the dev cluster: the proxy's header names the actor, and nothing else does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import httpx
from google.protobuf import json_format

from service.rpc.proto_gen import config_pb2, config_pb2_grpc
from tests.e2e import payloads
from tests.support import processes


def test_proxy_header_names_the_actor_and_is_required(tmp_path: Path, dev_kubeconfig: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'proxy.db'}"
    env = {
        "KUBERAY_APISERVER_AUTH": "proxy",
        "KUBERAY_APISERVER_PROXY_USER_HEADER": "x-remote-user",
        "KUBERAY_APISERVER_PROXY_TRUSTED_CIDRS": "127.0.0.1/32",
    }
    with processes.service(tmp_path, url, dev_kubeconfig, env=env) as service:
        with httpx.Client(base_url=service.url, timeout=30) as api:
            namespace = "ray-system"
            proxy = {"x-remote-user": "mallory-proxy"}
            template = payloads.template(namespace, "proxy-template")
            assert (
                api.post(
                    f"/apis/v1/namespaces/{namespace}/compute_templates", json=template, headers=proxy
                ).status_code
                == 200
            )
            body = payloads.cluster(namespace, "proxy-cluster", "proxy-template")  # the body claims user 3cpo
            created = api.post(f"/apis/v1/namespaces/{namespace}/clusters", json=body, headers=proxy)
            assert created.status_code == 200 and created.json()["user"] == "mallory-proxy"

            # Without the header the request did not come through the proxy; with it twice, one copy is the client's.
            missing = api.delete(f"/apis/v1/namespaces/{namespace}/clusters/proxy-cluster")
            assert missing.status_code == 401 and missing.json()["code"] == 16
            assert "x-remote-user" in missing.json()["message"]
            twice = httpx.Headers([("x-remote-user", "alice"), ("x-remote-user", "mallory-proxy")])
            repeated = api.delete(f"/apis/v1/namespaces/{namespace}/clusters/proxy-cluster", headers=twice)
            assert repeated.status_code == 401

            assert (
                api.delete(
                    f"/apis/v1/namespaces/{namespace}/clusters/proxy-cluster", headers=proxy
                ).status_code
                == 200
            )
            events = api.get(
                f"/apis/v1/namespaces/{namespace}/audit", params={"resource": "clusters"}, headers=proxy
            ).json()["events"]
            # The two refused deletions are in the trail too, with no user: nobody was verified.
            assert [(e["action"], e.get("user", ""), e["outcome"], e.get("code", 0)) for e in events] == [
                ("DELETE", "mallory-proxy", "SUCCESS", 0),
                ("DELETE", "", "FAILURE", 16),
                ("DELETE", "", "FAILURE", 16),
                ("CREATE", "mallory-proxy", "SUCCESS", 0),
            ]

            asyncio.run(_grpc_checks(service.grpc_port, namespace))
            events = api.get(
                f"/apis/v1/namespaces/{namespace}/audit",
                params={"resource": "computeTemplates", "name": "grpc-template", "outcome": "SUCCESS"},
                headers=proxy,
            ).json()["events"]
            assert [(e["action"], e["user"]) for e in events] == [
                ("DELETE", "mallory"),
                ("CREATE", "mallory"),
            ]


async def _grpc_checks(port: int, namespace: str) -> None:
    """The same rule over gRPC, with the header as metadata."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = config_pb2_grpc.ComputeTemplateServiceStub(channel)
        template = json_format.ParseDict(
            payloads.template(namespace, "grpc-template"), config_pb2.ComputeTemplate()
        )
        create = config_pb2.CreateComputeTemplateRequest(compute_template=template, namespace=namespace)
        try:
            await stub.CreateComputeTemplate(create)
            raise AssertionError("a call without the proxy metadata was accepted")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
        metadata = (("x-remote-user", "mallory"),)
        await stub.CreateComputeTemplate(create, metadata=metadata)
        delete = config_pb2.DeleteComputeTemplateRequest(name="grpc-template", namespace=namespace)
        await stub.DeleteComputeTemplate(delete, metadata=metadata)
