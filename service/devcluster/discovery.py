"""Discovery and health documents: /version, /api, /apis, the API resource lists and /healthz & co."""

from __future__ import annotations

from service.devcluster.resources import RESOURCE_TYPES, JsonObj, ResourceType

GIT_VERSION = "v1.34.0-devcluster"
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_STATUS_VERBS = ["get", "patch", "update"]


def _group_version(rtype: ResourceType) -> JsonObj:
    return {"groupVersion": rtype.api_version, "version": rtype.version}


def _api_group(group: str) -> JsonObj:
    versions = list({t.api_version: _group_version(t) for t in RESOURCE_TYPES if t.group == group}.values())
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def _resource_list(api_version: str) -> JsonObj | None:
    resources: list[JsonObj] = []
    for rtype in RESOURCE_TYPES:
        if rtype.api_version != api_version:
            continue
        entry: JsonObj = {
            "name": rtype.plural,
            "singularName": rtype.singular,
            "namespaced": rtype.namespaced,
            "kind": rtype.kind,
            "verbs": _VERBS,
        }
        if rtype.short_names:
            entry["shortNames"] = list(rtype.short_names)
        resources.append(entry)
        if rtype.status_subresource:
            resources.append(
                {
                    "name": f"{rtype.plural}/status",
                    "singularName": "",
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": _STATUS_VERBS,
                }
            )
    if not resources:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version,
        "resources": resources,
    }


def discovery_document(parts: list[str], server_address: str) -> JsonObj | str | None:
    """The discovery or health answer for a path, None if the path is not one of those."""
    groups = sorted({t.group for t in RESOURCE_TYPES if t.group})
    if parts in (["healthz"], ["readyz"], ["livez"]):
        return "ok"
    if parts == ["version"]:
        return {
            "major": "1",
            "minor": "34",
            "gitVersion": GIT_VERSION,
            "gitCommit": "devcluster",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24",
            "compiler": "gc",
            "platform": "linux/amd64",
        }
    if parts == ["api"]:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }
    if parts == ["apis"]:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_api_group(g) for g in groups]}
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
        return {"kind": "APIGroup", "apiVersion": "v1", **_api_group(parts[1])}
    if parts == ["api", "v1"]:
        return _resource_list("v1")
    if len(parts) == 3 and parts[0] == "apis":
        return _resource_list(f"{parts[1]}/{parts[2]}")
    if parts[:1] == ["openapi"]:
        return openapi_document(parts)
    return None


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def _definition_name(rtype: ResourceType) -> str:
    return f"io.ray.{rtype.version}.{rtype.kind}"


def openapi_document(parts: list[str]) -> JsonObj | None:
    """``/openapi/v3`` and each group's OpenAPI v3 document, as kube-apiserver lays them out.

    The dev cluster keeps no CRD schemas, so each kind's schema accepts any fields (what kube-apiserver does for
    ``x-kubernetes-preserve-unknown-fields``); clients validate nothing more than the kind and version.
    """
    versions = sorted({t.api_version for t in RESOURCE_TYPES if t.group})
    if parts == ["openapi", "v3"]:
        listing: JsonObj = {f"apis/{v}": {"serverRelativeURL": f"/openapi/v3/apis/{v}"} for v in versions}
        return {"paths": listing}
    if len(parts) != 5 or parts[:3] != ["openapi", "v3", "apis"] or f"{parts[3]}/{parts[4]}" not in versions:
        return None
    api_version = f"{parts[3]}/{parts[4]}"
    schemas: JsonObj = {}
    paths: JsonObj = {}
    for rtype in RESOURCE_TYPES:
        if rtype.api_version != api_version:
            continue
        gvk = [{"group": rtype.group, "version": rtype.version, "kind": rtype.kind}]
        schemas[_definition_name(rtype)] = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": gvk,
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"allOf": [{"$ref": f"#/components/schemas/{_OBJECT_META}"}]},
            },
        }
        ref = {"$ref": f"#/components/schemas/{_definition_name(rtype)}"}
        body: JsonObj = {"content": {"application/json": {"schema": ref}}}
        operation: JsonObj = {"x-kubernetes-group-version-kind": gvk[0], "requestBody": body, "responses": {}}
        paths[f"/apis/{api_version}/namespaces/{{namespace}}/{rtype.plural}"] = {"post": operation}
    schemas[_OBJECT_META] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    }
