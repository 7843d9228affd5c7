"""Discovery for kubectl and Kubernetes clients: Kubernetes' own documents, read as the caller and cut down to
what the service serves (the Ray group)."""

from __future__ import annotations

from service.errors import StatusError
from service.kube.client import KubeClient, Obj, get_document
from service.kube.errors import KubeError
from service.managers.native import KINDS, status_error
from service.vocabulary import GROUP, VERSION

RAY_GROUP_VERSION = f"{GROUP}/{VERSION}"


class DiscoveryManager:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    async def _read(self, segments: list[str]) -> Obj:
        try:
            return await get_document(self.kube, segments)
        except KubeError as exc:
            raise status_error(exc) from None

    async def version(self) -> Obj:
        return await self._read(["version"])

    def core(self) -> Obj:
        """``/api``: the service serves no core resources of its own."""
        return {"kind": "APIVersions", "versions": [], "serverAddressByClientCIDRs": []}

    async def groups(self) -> Obj:
        document = await self._read(["apis"])
        groups = [_served_versions(g) for g in document.get("groups") or [] if g.get("name") == GROUP]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    async def group(self) -> Obj:
        return _served_versions(await self._read(["apis", GROUP]))

    async def resources(self) -> Obj:
        document = await self._read(["apis", GROUP, VERSION])
        served = set(KINDS)
        kept = [r for r in document.get("resources") or [] if str(r.get("name", "")).split("/")[0] in served]
        return {**document, "resources": kept}

    async def openapi_paths(self) -> Obj:
        document = await self._read(["openapi", "v3"])
        paths = document.get("paths") or {}
        key = f"apis/{RAY_GROUP_VERSION}"
        if key not in paths:
            raise StatusError(404, "NotFound", "the server could not find the requested resource")
        return {"paths": {key: paths[key]}}

    async def openapi(self) -> Obj:
        return await self._read(["openapi", "v3", "apis", GROUP, VERSION])


def _served_versions(group: Obj) -> Obj:
    """The Ray group as the service serves it: ``v1`` only (the CRDs may still serve older versions, which the
    service does not route, and a client would then fail to list their resources)."""
    served = {"groupVersion": RAY_GROUP_VERSION, "version": VERSION}
    return {**group, "versions": [served], "preferredVersion": served}
