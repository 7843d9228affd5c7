"""Giving a Service a live endpoint on a real kube-apiserver that has no controllers and no nodes.

kube-apiserver v1.34 finds where to proxy ``/api/v1/namespaces/{ns}/services/{svc}/proxy/...`` in the Service's
*Endpoints* object (``ResourceLocation`` in pkg/registry/core/service/storage/storage.go; EndpointSlices are not
read there), and it only goes to an address that

- the Endpoints validation accepts: not loopback, link-local or unspecified (so not 127.0.0.1), and
- is a pod's: the address's ``targetRef`` names a Pod in the Service's namespace whose ``status.podIPs`` holds
  the same IP (``isValidAddress``); any other address is skipped, and a Service with none left is
  ``503 no endpoints available``.

With no endpoints controller and no kubelet, a test writes what they would: a Pod whose status says it runs at
this machine's own network address, and the Endpoints (and, as a real cluster also has, an EndpointSlice) naming
that Pod. A backend listening on that address (or on 0.0.0.0) is then reached by kube-apiserver's proxy as a pod
would be. The connection never leaves the machine (the kernel delivers traffic for its own addresses locally), so
nothing is needed but an interface with an address, which any machine that fetched the tools has; no root, no
iproute2, no network namespace. (kube-apiserver would send it to an HTTP_PROXY of the environment: the test server
starts without one, see tests/support/kube_apiserver.py.)
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
import struct
from typing import Any

from kubernetes_asyncio import client

ENV_ADDRESS = "KUBERAY_TEST_ENDPOINT_ADDRESS"
_SIOCGIFADDR = 0x8915


def _interface_address(name: str) -> str | None:
    """The (primary) IPv4 address of interface ``name``, None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def _proxyable(address: str) -> bool:
    """True for an IPv4 address Kubernetes accepts as an endpoint and that this machine can listen on."""
    ip = ipaddress.ip_address(address)
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        return False
    with socket.socket() as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def endpoint_address() -> str:
    """An IPv4 address of this machine that kube-apiserver's service proxy will go to: the one in
    ``KUBERAY_TEST_ENDPOINT_ADDRESS`` if set, else the first non-loopback, non-link-local address of an interface.

    Fails (never skips) when there is none: the real-cluster proxy tests cannot run without one.
    """
    given = os.environ.get(ENV_ADDRESS, "").strip()
    if given:
        if not _proxyable(given):
            raise RuntimeError(
                f"{ENV_ADDRESS}={given} is not an address kube-apiserver proxies to (loopback, link-local, "
                "multicast or unspecified) or not one of this machine's"
            )
        return given
    seen = []
    for _, name in socket.if_nameindex():
        address = _interface_address(name)
        if address is None:
            continue
        seen.append(f"{name}={address}")
        if _proxyable(address):
            return address
    raise RuntimeError(
        "this machine has no IPv4 address kube-apiserver's service proxy will go to (it refuses loopback and "
        f"link-local endpoints); interfaces seen: {', '.join(seen) or 'none'}. Give the machine one, e.g. as root "
        f"`ip addr add 198.18.0.1/32 dev lo`, or name one in {ENV_ADDRESS}"
    )


async def publish_pod_endpoint(
    kube: client.ApiClient,
    namespace: str,
    service: str,
    address: str,
    port: int,
    port_name: str = "dashboard",
    pod: str = "",
    ready: bool = True,
) -> None:
    """Makes ``address:port`` (port ``port_name``) the one endpoint of ``service``, as the endpoints controller
    would for a running pod: a Pod (``pod``, default ``<service>-pod``) whose status says it runs at ``address``,
    the Endpoints and an EndpointSlice naming it. Not ``ready``: a pod still starting, which is not proxied to."""
    core = client.CoreV1Api(kube)
    pod = pod or f"{service}-pod"
    made = await core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": pod, "labels": {"app.kubernetes.io/name": "kuberay"}},
            "spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray"}]},
        },
    )
    await core.patch_namespaced_pod_status(
        pod,
        namespace,
        {
            "status": {
                "phase": "Running" if ready else "Pending",
                "podIP": address,
                "podIPs": [{"ip": address}],
            }
        },
    )
    target: dict[str, Any] = {"kind": "Pod", "namespace": namespace, "name": pod, "uid": made.metadata.uid}
    await core.create_namespaced_endpoints(
        namespace,
        {
            "metadata": {"name": service},
            "subsets": [
                {
                    "addresses" if ready else "notReadyAddresses": [{"ip": address, "targetRef": target}],
                    "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
                }
            ],
        },
    )
    # Not read by the proxy of this version, but by everything else that looks for endpoints (and maybe by the proxy
    # of a later one).
    await client.DiscoveryV1Api(kube).create_namespaced_endpoint_slice(
        namespace,
        {
            "metadata": {"name": f"{service}-1", "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address], "conditions": {"ready": ready}, "targetRef": target}],
            "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        },
    )
