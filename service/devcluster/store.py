"""The dev cluster's in-memory object store: pure Kubernetes API semantics, no HTTP."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

from service.devcluster.continuation import decode_continue, encode_continue
from service.devcluster.errors import ApiError
from service.devcluster.metadata import generate_suffix, now_rfc3339, object_key, spec_part, without_rv
from service.devcluster.namespaces import (
    INITIAL_NAMESPACES,
    as_terminating,
    check_deletable,
    complete_new_namespace,
    namespaced_storage_types,
)
from service.devcluster.patches import PatchError, json_equal, json_patch, merge_patch
from service.devcluster.resources import NAMESPACES, RAY_CLUSTERS, JsonObj, ResourceType
from service.devcluster.selectors import Selector
from service.devcluster.validation import FieldError, check_body, invalid, validate_metadata
from service.devcluster.watches import ADDED, DELETED, MODIFIED, Change, Watcher, WatchHub

# ApiError, RAY_CLUSTERS and Selector are re-exported because the tests import them from the store.
__all__ = ["RAY_CLUSTERS", "ApiError", "DeleteResult", "Selector", "Store"]

# etcd's default request limit caps every stored object; it also keeps watch lines under the 4 MiB a
# kubernetes_asyncio watch can read as one line.
MAX_OBJECT_BYTES = 1536 * 1024


@dataclass(frozen=True)
class DeleteResult:
    """What DELETE returns: the object as last seen, and whether it is gone (False: finalizers pending)."""

    object: JsonObj
    removed: bool


class Store:
    """All objects of one dev cluster, their resourceVersion counter and the watch machinery.

    Objects are kept per storage ("ray.io/rayclusters") under etcd-style keys ("<namespace>/<name>"), so
    lists come out in the same order a real API server returns them. Every method is synchronous: on one
    asyncio loop a method that never awaits runs to completion, so each read-modify-write is atomic without
    a lock. Stored objects are never mutated in place (a write stores a new dict), which lets the watch
    history share them safely.
    """

    def __init__(self, history_size: int = 1000, watch_queue_size: int = 5000) -> None:
        self._rv = 0
        self._objects: dict[str, dict[str, JsonObj]] = {}
        self._watches = WatchHub(history_size)
        self._watch_queue_size = watch_queue_size
        for name in INITIAL_NAMESPACES:
            self.create(NAMESPACES, None, {"metadata": {"name": name}})

    @property
    def resource_version(self) -> int:
        return self._rv

    # ---- reading

    def present(self, rtype: ResourceType, stored: JsonObj, *, list_item: bool = False) -> JsonObj:
        """A private copy of a stored object as `rtype`'s API version shows it."""
        view = copy.deepcopy(stored)
        if rtype.from_storage is not None:
            view = rtype.from_storage(view)
        view.pop("apiVersion", None)
        view.pop("kind", None)
        if list_item and not rtype.custom:
            return view  # items of built-in lists carry no apiVersion/kind, as in real Kubernetes
        return {"apiVersion": rtype.api_version, "kind": rtype.kind, **view}

    def _bucket(self, rtype: ResourceType) -> dict[str, JsonObj]:
        return self._objects.setdefault(rtype.storage_key, {})

    def _stored(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObj:
        stored = self._bucket(rtype).get(object_key(namespace if rtype.namespaced else None, name))
        if stored is None:
            raise ApiError.not_found(rtype, name)
        return stored

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonObj:
        return self.present(rtype, self._stored(rtype, namespace, name))

    def namespace_exists(self, name: str) -> bool:
        return name in self._bucket(NAMESPACES)

    def _keys(self, rtype: ResourceType, namespace: str | None, start: str = "") -> list[str]:
        prefix = f"{namespace}/" if namespace is not None and rtype.namespaced else ""
        return sorted(k for k in self._bucket(rtype) if k.startswith(prefix) and k >= start)

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        selector: Selector,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JsonObj:
        """A `<Kind>List`, one page of it when `limit` is set."""
        list_rv, start = decode_continue(continue_token) if continue_token else (self._rv, "")
        bucket = self._bucket(rtype)
        matching: list[tuple[str, JsonObj]] = []
        for key in self._keys(rtype, namespace, start):
            view = self.present(rtype, bucket[key], list_item=True)
            if selector.matches(view):
                matching.append((key, view))
        page = matching[:limit] if limit and limit > 0 else matching
        meta: JsonObj = {"resourceVersion": str(list_rv)}
        if len(page) < len(matching):
            meta["continue"] = encode_continue(list_rv, page[-1][0])
            if selector.empty:  # real Kubernetes leaves the count out when selectors filter the list
                meta["remainingItemCount"] = len(matching) - len(page)
        return {
            "apiVersion": rtype.api_version,
            "kind": f"{rtype.kind}List",
            "metadata": meta,
            "items": [view for _, view in page],
        }

    # ---- writing

    def _commit(
        self,
        change_type: str,
        rtype: ResourceType,
        key: str,
        old: JsonObj | None,
        new: JsonObj,
        dry_run: bool = False,
    ) -> JsonObj:
        """Store (or drop) `new` under the next resourceVersion and tell the watchers. A dry run stops after every
        check: nothing is stored, no watcher hears of it, and the object keeps the version it had (none, when
        it would have been created), as a real API server answers a dry run."""
        if change_type != DELETED and len(json.dumps(new)) > MAX_OBJECT_BYTES:
            raise ApiError(413, "RequestEntityTooLarge", "etcdserver: request is too large")
        if dry_run:
            if old is None:
                new["metadata"].pop("resourceVersion", None)
            else:
                new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
            return new
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        bucket = self._bucket(rtype)
        if change_type == DELETED:
            bucket.pop(key, None)
        else:
            bucket[key] = new
        self._watches.publish(Change(self._rv, change_type, rtype.storage_key, key, old, new))
        return new

    def create(
        self, rtype: ResourceType, namespace: str | None, body: Any, *, dry_run: bool = False
    ) -> JsonObj:
        obj = check_body(rtype, body, namespace)
        meta = obj["metadata"]
        if rtype.namespaced and not self.namespace_exists(namespace or ""):
            raise ApiError.not_found(NAMESPACES, namespace or "")
        if meta.get("resourceVersion"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{generate_suffix()}"
        errors = validate_metadata(rtype, meta)
        if errors:
            raise invalid(rtype, meta.get("name") or "", errors)
        key = object_key(namespace if rtype.namespaced else None, meta["name"])
        if key in self._bucket(rtype):
            raise ApiError(
                409,
                "AlreadyExists",
                f'{rtype.resource} "{meta["name"]}" already exists',
                rtype.details(meta["name"]),
            )
        for server_owned in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            meta.pop(server_owned, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rtype.custom:
            meta["generation"] = 1
        if rtype.status_subresource:
            obj.pop("status", None)  # status is written only through /status
        if rtype is NAMESPACES:
            complete_new_namespace(obj)
        stored = rtype.to_storage(obj) if rtype.to_storage else obj
        return self.present(rtype, self._commit(ADDED, rtype, key, None, stored, dry_run))

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JsonObj:
        """PUT: a stale metadata.resourceVersion conflicts; none at all makes the update unconditional, except for
        custom resources, which Kubernetes never updates unconditionally."""
        stored = self._stored(rtype, namespace, name)
        new = check_body(rtype, body, namespace)
        if rtype.custom and not new["metadata"].get("resourceVersion"):
            required = "Invalid value: 0x0: must be specified for an update"
            raise invalid(
                rtype, name, [FieldError("metadata.resourceVersion", "FieldValueInvalid", required)]
            )
        return self._update(rtype, namespace, name, stored, new, subresource, dry_run)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        patch_type: str,
        patch: Any,
        subresource: str | None = None,
        *,
        dry_run: bool = False,
    ) -> JsonObj:
        """PATCH with "json" (RFC 6902) or "merge" (RFC 7386) semantics."""
        stored = self._stored(rtype, namespace, name)
        current = self.present(rtype, stored)
        if patch_type == "json":
            if not isinstance(patch, list):
                raise ApiError.bad_request(
                    "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"
                )
            try:
                patched = json_patch(current, patch)
            except PatchError as exc:
                raise ApiError(422, "Invalid", str(exc)) from exc
        else:
            if not isinstance(patch, dict):
                raise ApiError.bad_request("a merge patch must be a JSON object")
            patched = copy.deepcopy(merge_patch(current, patch))
        new = check_body(rtype, patched, namespace)
        return self._update(rtype, namespace, name, stored, new, subresource, dry_run)

    def _update(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        stored: JsonObj,
        new: JsonObj,
        subresource: str | None,
        dry_run: bool = False,
    ) -> JsonObj:
        old = rtype.from_storage(copy.deepcopy(stored)) if rtype.from_storage else copy.deepcopy(stored)
        old.pop("apiVersion", None)
        old.pop("kind", None)
        meta, old_meta = new["metadata"], old["metadata"]
        if meta.get("name", name) != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if meta.get("resourceVersion") and meta["resourceVersion"] != old_meta["resourceVersion"]:
            raise ApiError.conflict(rtype, name)
        if subresource == "status":
            # Only status is taken from a status write; spec and metadata stay as stored.
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
        else:
            result = new
            if rtype.status_subresource:
                if "status" in old:
                    result["status"] = old["status"]
                else:
                    result.pop("status", None)
            meta["name"] = name
            for server_owned in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
            ):
                if server_owned in old_meta:
                    meta[server_owned] = old_meta[server_owned]
                else:
                    meta.pop(server_owned, None)
            errors = validate_metadata(rtype, meta)
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if old_meta.get("deletionTimestamp") and added:
                detail = (
                    f"Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}"
                )
                errors.append(FieldError("metadata.finalizers", "FieldValueForbidden", detail))
            if errors:
                raise invalid(rtype, name, errors)
            if rtype.custom and not json_equal(spec_part(result), spec_part(old)):
                meta["generation"] = old_meta.get("generation", 0) + 1
        new_stored = rtype.to_storage(result) if rtype.to_storage else result
        if json_equal(without_rv(new_stored), without_rv(stored)):
            return self.present(rtype, stored)  # a no-op write keeps its resourceVersion and sends no event
        key = object_key(namespace if rtype.namespaced else None, name)
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            # The last finalizer is gone: the pending deletion completes.
            return self.present(rtype, self._commit(DELETED, rtype, key, stored, new_stored, dry_run))
        return self.present(rtype, self._commit(MODIFIED, rtype, key, stored, new_stored, dry_run))

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        preconditions: JsonObj | None = None,
        *,
        dry_run: bool = False,
    ) -> DeleteResult:
        """Remove the object, or with finalizers only mark it with deletionTimestamp. The propagation policy is
        checked by the handler and changes nothing here: nothing in the dev cluster owns anything, so a garbage
        collector would find no dependents to wait for (or orphan) and complete the deletion at once."""
        stored = self._stored(rtype, namespace, name)
        meta = stored["metadata"]
        for field in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                label = "UID" if field == "uid" else "ResourceVersion"
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: {label} in precondition: {wanted}, "
                    f"{label} in object meta: {meta.get(field)}",
                    rtype.details(name),
                )
        key = object_key(namespace if rtype.namespaced else None, name)
        if rtype is NAMESPACES:
            if dry_run:
                check_deletable(name)
                return DeleteResult(as_terminating(self.present(NAMESPACES, stored)), removed=True)
            return self._delete_namespace(name, stored)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return DeleteResult(self.present(rtype, stored), removed=False)
            marked = copy.deepcopy(stored)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            if "generation" in meta:
                marked["metadata"]["generation"] = meta["generation"] + 1
            marked = self._commit(MODIFIED, rtype, key, stored, marked, dry_run)
            return DeleteResult(self.present(rtype, marked), removed=False)
        gone = self._commit(DELETED, rtype, key, stored, copy.deepcopy(stored), dry_run)
        return DeleteResult(self.present(rtype, gone), removed=True)

    def _delete_namespace(self, name: str, stored: JsonObj) -> DeleteResult:
        """Drop the namespace and, at once, everything in it (finalizers included)."""
        check_deletable(name)
        for rtype in namespaced_storage_types():
            bucket = self._bucket(rtype)
            for key in self._keys(rtype, name):
                self._commit(DELETED, rtype, key, bucket[key], copy.deepcopy(bucket[key]))
        gone = self._commit(DELETED, NAMESPACES, name, stored, copy.deepcopy(stored))
        return DeleteResult(as_terminating(self.present(NAMESPACES, gone)), removed=True)

    # ---- watching

    def watch(
        self, rtype: ResourceType, namespace: str | None, selector: Selector, resource_version: str | None
    ) -> Watcher:
        """Open a watch. With no resourceVersion (or "0") it starts with an ADDED per existing object;
        otherwise it replays the history after that version, or sends a 410 ERROR if that is gone."""
        watcher = Watcher(self, rtype, namespace, selector, self._watch_queue_size)
        if resource_version in (None, "", "0"):
            bucket = self._bucket(rtype)
            for key in self._keys(rtype, namespace):
                view = self.present(rtype, bucket[key])
                if selector.matches(view):
                    watcher.push({"type": ADDED, "object": view})
        else:
            try:
                since = int(resource_version or "")
            except ValueError as exc:
                raise ApiError.bad_request(f'invalid resource version "{resource_version}"') from exc
            if not self._watches.replay(watcher, since):
                return watcher  # expired: it holds only the 410 ERROR and is closed
        self._watches.add(watcher)
        return watcher

    @property
    def open_watches(self) -> int:
        return self._watches.open_watches

    def forget_watcher(self, watcher: Watcher) -> None:
        self._watches.discard(watcher)

    def close_watchers(self) -> None:
        """End every open watch (the server is stopping)."""
        self._watches.close_all()
