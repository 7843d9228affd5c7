"""Ray objects as Kubernetes stores them (upstream's V2 routes): reads as the caller, every write through the
change-and-record runner, so it is audited like a V1 write (same resource and action vocabulary)."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import jsonpatch
import msgspec

from service.converters.errors import BuildError
from service.converters.native_templates import named_templates, with_templates
from service.db.records import Change, Records
from service.errors import STATUS_REASONS, ApiError, Code, StatusError
from service.kube.client import KubeClient, Obj, Proxied, open_service_proxy, open_watch
from service.kube.errors import KubeError
from service.managers.authorization import Authorizer
from service.managers.context import Caller
from service.managers.lifecycle import Applied, Lifecycle, Write, intent_of
from service.managers.resources import ResourceManager, change_of, observed_before
from service.managers.templates import ComputeTemplateManager
from service.names import label_problem
from service.schemas.compute_template import ComputeTemplate
from service.vocabulary import (
    APP_NAME,
    APP_NAME_LABEL,
    CORE_EVENTS,
    CORE_SERVICES,
    EVENTS,
    INTENT_ANNOTATION,
    RAY_CLUSTERS,
    RAY_JOBS,
    RAY_SERVICES,
    USER_LABEL,
    Action,
    Kind,
    Resource,
)

KINDS: dict[str, tuple[Kind, Resource]] = {
    RAY_CLUSTERS.plural: (RAY_CLUSTERS, Resource.CLUSTERS),
    RAY_JOBS.plural: (RAY_JOBS, Resource.JOBS),
    RAY_SERVICES.plural: (RAY_SERVICES, Resource.SERVICES),
}


def status_error(exc: KubeError) -> StatusError:
    """Kubernetes' own refusal, kept as Kubernetes answered it."""
    status = exc.status or 503
    return StatusError(status, exc.reason or STATUS_REASONS.get(status, ""), exc.message, exc.details)


STATUS = "status"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, APPLY)
"""What Kubernetes takes in a PATCH of a custom resource (a strategic merge patch needs a built-in type)."""
PATCH_ATTEMPTS = 6
"""A patch's first try and its retries after conflicts: five, as Kubernetes bounds its own."""
WRITE_QUERY = ("dryRun", "fieldManager", "fieldValidation")
"""The query parameters of a write that Kubernetes takes (``force`` too, for an apply), passed on as they came."""


class WriteOptions(msgspec.Struct, frozen=True, kw_only=True):
    """A write's query options, sent to Kubernetes as they came."""

    query: dict[str, str] = msgspec.field(default_factory=dict)
    dry_run: bool = False
    """``dryRun`` given (Kubernetes takes only ``All``, and refuses anything else itself): nothing is changed,
    and nothing is recorded."""


NO_OPTIONS = WriteOptions()


def write_options(query: Mapping[str, str], apply: bool = False) -> WriteOptions:
    kept = {key: query[key] for key in (*WRITE_QUERY, *(("force",) if apply else ())) if query.get(key)}
    return WriteOptions(query=kept, dry_run=bool(kept.get("dryRun")))


def kind_of(plural: str) -> tuple[Kind, Resource]:
    try:
        return KINDS[plural]
    except KeyError:
        raise StatusError(404, "NotFound", "the server could not find the requested resource") from None


class NativeManager:
    """Get, list, create, replace and delete Ray objects in their Kubernetes form."""

    def __init__(
        self,
        kube: KubeClient,
        records: Records,
        lifecycle: Lifecycle,
        kinds: Sequence[ResourceManager[Any]],
        templates: ComputeTemplateManager,
        authorizer: Authorizer | None = None,
    ) -> None:
        self.kube = kube
        self.authorizer = authorizer
        self.templates = templates
        self.records = records
        self.lifecycle = lifecycle
        self.kinds = {manager.resource: manager for manager in kinds}

    def snapshot(self, resource: Resource, obj: Obj) -> dict[str, Any] | None:
        """The V1 form of an object, as history rows keep it (so V1 lists with includeDeleted show it)."""
        try:
            return self.kinds[resource].snapshot(obj)
        except Exception:  # an object V1 cannot express: history keeps no spec for it
            return None

    async def get(self, plural: str, namespace: str, name: str) -> Obj:
        kind, _ = kind_of(plural)
        try:
            return await self.kube.get(kind, namespace, name)
        except KubeError as exc:
            raise status_error(exc) from None

    async def watch(self, plural: str, namespace: str | None, query: dict[str, str]) -> AsyncIterator[bytes]:
        """Kubernetes' watch events (bookmarks included), streamed as they come, as the caller."""
        return await _watch(self.kube, kind_of(plural)[0], namespace, query)

    async def list(self, plural: str, namespace: str | None, query: dict[str, str]) -> Obj:
        return await _list(self.kube, kind_of(plural)[0], namespace, query)

    async def list_events(self, core: bool, namespace: str, query: dict[str, str]) -> Obj:
        """Events about Ray objects only (upstream's V2 events route), as the caller."""
        kind = CORE_EVENTS if core else EVENTS
        return await _list(self.kube, kind, namespace, ray_events_only(core, query))

    async def watch_events(self, core: bool, namespace: str, query: dict[str, str]) -> AsyncIterator[bytes]:
        kind = CORE_EVENTS if core else EVENTS
        return await _watch(self.kube, kind, namespace, ray_events_only(core, query))

    async def proxy(
        self,
        method: str,
        namespace: str,
        service: str,
        rest: builtins.list[str],
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Proxied:
        """A request through Kubernetes' service proxy (upstream's V2 proxy route), as the caller, only to a
        Service of KubeRay's (label ``app.kubernetes.io/name=kuberay``) in the namespace."""
        name = proxied_service_name(service)
        if name is None:
            raise StatusError(400, "BadRequest", f"invalid service format: {service}")
        try:
            listed = await self.kube.list(
                CORE_SERVICES, namespace, label_selector=f"{APP_NAME_LABEL}={APP_NAME}"
            )
        except KubeError as exc:
            raise status_error(exc) from None
        if not any((item.get("metadata") or {}).get("name") == name for item in listed.get("items") or []):
            raise StatusError(
                404,
                "NotFound",
                f"kuberay service not found: no Service {name} labelled {APP_NAME_LABEL}={APP_NAME} "
                f"in namespace {namespace}",
            )
        try:
            return await open_service_proxy(self.kube, method, namespace, service, rest, query, headers, body)
        except KubeError as exc:
            raise status_error(exc) from None

    def _change(
        self, action: Action, resource: Resource, caller: Caller, ns: str, name: str, body: Any
    ) -> Change:
        labels = ((body or {}).get("metadata") or {}).get("labels") or {}
        spec = self.snapshot(resource, body) if body else None
        return change_of(action, resource, caller, ns, name, str(labels.get(USER_LABEL) or ""), spec)

    async def create(
        self, caller: Caller, plural: str, namespace: str, body: Obj, options: WriteOptions = NO_OPTIONS
    ) -> Obj:
        kind, resource = kind_of(plural)
        body = _checked(kind, namespace, body)
        name = str(body["metadata"].get("name") or "")

        async def prepare() -> Write:
            if not name:
                raise StatusError(422, "Invalid", f"{kind.kind} is invalid: metadata.name: Required value")
            sent = await self._with_templates(plural, namespace, body)
            return Write(
                verb="create",
                kind=kind,
                namespace=namespace,
                name=name,
                body=sent,
                explain=status_error,
                query=options.query,
            )

        change = self._change(Action.CREATE, resource, caller, namespace, name, body)
        return self._remembered(resource, await self._run(change, prepare, options))

    async def get_status(self, plural: str, namespace: str, name: str) -> Obj:
        """``GET .../{name}/status``: the whole object, as Kubernetes serves its status subresource."""
        kind, _ = kind_of(plural)
        try:
            return await self.kube.get(kind, namespace, name, subresource=STATUS)
        except KubeError as exc:
            raise status_error(exc) from None

    async def replace(
        self,
        caller: Caller,
        plural: str,
        namespace: str,
        name: str,
        body: Obj,
        templates: bool = False,
        options: WriteOptions = NO_OPTIONS,
        subresource: str = "",
    ) -> Obj:
        """Replace an object (with ``subresource`` ``status``: only its status); with ``templates`` (a PUT, as
        upstream), compute templates it names are applied."""
        kind, resource = kind_of(plural)
        body = _checked(kind, namespace, body)

        async def prepare() -> Write:
            _same_name(body, name)
            current = await self._current(kind, namespace, name, subresource)
            # A replace without a resourceVersion goes as sent: Kubernetes refuses it for custom resources (422),
            # as it would without the service, rather than overwriting whatever changed since the caller read.
            if not subresource and templates:
                sent = await self._with_templates(plural, namespace, body)
            else:
                sent = body
            # The audit row keeps the object as the caller sent it (before its compute templates were applied).
            return self._update(
                kind, resource, caller, current, sent, subresource, options, status_error, recorded=body
            )

        change = self._change(Action.UPDATE, resource, caller, namespace, name, body)
        return self._remembered(resource, await self._run(change, prepare, options))

    def _update(
        self,
        kind: Kind,
        resource: Resource,
        caller: Caller,
        current: Obj,
        body: Obj,
        subresource: str,
        options: WriteOptions,
        explain: Callable[[KubeError], ApiError],
        recorded: Obj | None = None,
    ) -> Write:
        """The replace of ``current`` by ``body``: of the object, or of its status only. ``recorded``: the object
        the audit row keeps, when it is not ``body``."""
        metadata = current.get("metadata") or {}
        namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
        change = self._change(Action.UPDATE, resource, caller, namespace, name, recorded or body)
        spec: Obj | None = None
        previous: Obj = current
        if subresource:
            # What a status write changes, before and after (its spec and metadata are not written).
            spec, previous = {"status": body.get("status")}, {"status": current.get("status")}
        return Write(
            verb="update",
            kind=kind,
            namespace=namespace,
            name=name,
            body=body,
            explain=explain,
            previous_resource_version=_version(current),
            previous=previous,
            change=change,
            spec=spec,
            subresource=subresource,
            query=options.query,
        )

    async def patch(
        self,
        caller: Caller,
        plural: str,
        namespace: str,
        name: str,
        patch_type: str,
        document: Any,
        options: WriteOptions = NO_OPTIONS,
        subresource: str = "",
    ) -> tuple[Obj, bool]:
        """A PATCH as Kubernetes takes it for custom resources: JSON merge patch, JSON patch or server-side apply.

        A merge or JSON patch is applied here to the object as read (as the caller), and what it changes is sent as
        a merge patch guarded by that resourceVersion (a PATCH still, so Kubernetes asks for the caller's ``patch``
        right), so the change recorded is exactly the one made. Kubernetes retries a patch internally
        when the object changed meanwhile; so does this: a patch that does not name a resourceVersion itself is
        made again on the newer object after a conflict, up to ``PATCH_ATTEMPTS`` times, each attempt its own
        audit row (a failed one says that it was retried). One that names a resourceVersion fails with 409, as in
        Kubernetes. Returns the object and whether the patch created it (only a server-side apply does).
        """
        kind, resource = kind_of(plural)
        if patch_type == APPLY:
            attempt = self._apply_once
        else:
            attempt = self._patch_once
        attempts = 1 if carries_version(patch_type, document) else PATCH_ATTEMPTS
        for number in range(1, attempts + 1):
            retried = number < attempts
            try:
                applied = await attempt(
                    caller,
                    kind,
                    resource,
                    namespace,
                    name,
                    patch_type,
                    document,
                    options,
                    subresource,
                    retried,
                )
            except StatusError as exc:
                if retried and is_version_conflict(exc):
                    continue
                raise
            return self._remembered(resource, applied), applied.created
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _patch_once(
        self,
        caller: Caller,
        kind: Kind,
        resource: Resource,
        namespace: str,
        name: str,
        patch_type: str,
        document: Any,
        options: WriteOptions,
        subresource: str,
        retried: bool,
    ) -> Applied:
        def explain(exc: KubeError) -> ApiError:
            error = status_error(exc)
            if retried and is_version_conflict(error):
                error.message += " (the patch is made again on the newer version)"
            return error

        async def prepare() -> Write:
            current = await self._current(kind, namespace, name, subresource)
            patched = _checked(kind, namespace, apply_patch(patch_type, current, document))
            _same_name(patched, name)
            write = self._update(kind, resource, caller, current, patched, subresource, options, explain)
            return dataclasses.replace(write, base=current)

        change = self._change(Action.UPDATE, resource, caller, namespace, name, None)
        return await self._run(change, prepare, options)

    async def _apply_once(
        self,
        caller: Caller,
        kind: Kind,
        resource: Resource,
        namespace: str,
        name: str,
        patch_type: str,
        document: Any,
        options: WriteOptions,
        subresource: str,
        retried: bool,
    ) -> Applied:
        """One server-side apply, sent to Kubernetes as a PATCH with the intent id in the applied configuration
        (so the caller's field manager owns it, and Kubernetes merges as it does for any apply)."""

        def explain(exc: KubeError) -> ApiError:
            error = status_error(exc)
            if retried and is_version_conflict(error):
                error.message += " (the apply is made again on the newer version)"
            return error

        async def prepare() -> Write:
            config = _checked(kind, namespace, document)
            metadata = config["metadata"]
            metadata.setdefault("name", name)
            _same_name(config, name)
            try:
                current: Obj | None = await self._current(kind, namespace, name, subresource)
            except StatusError as exc:
                if exc.status != 404:
                    raise
                current = None
            if options.dry_run and current is not None and intent_of(current):
                # The configuration as a real apply would send it (with the object's own intent id, unchanged):
                # a dry run then shows no change of the annotation, so `kubectl diff --server-side` shows none.
                metadata["annotations"] = {
                    **(metadata.get("annotations") or {}),
                    INTENT_ANNOTATION: intent_of(current),
                }
            # An apply creates a missing object (a status apply never does: Kubernetes answers 404).
            action = Action.UPDATE if current is not None or subresource else Action.CREATE
            change = self._change(action, resource, caller, namespace, name, config)
            if subresource:
                # The status an apply leaves is Kubernetes' merge of it, unknown before: only the configuration
                # is recorded (the reconciler then judges an interrupted one by its resourceVersion alone).
                change = msgspec.structs.replace(change, spec={"appliedStatus": config.get("status")})
            return Write(
                verb="apply",
                kind=kind,
                namespace=namespace,
                name=name,
                body=config,
                explain=explain,
                previous_resource_version=_version(current) if current is not None else "",
                previous=({"status": current.get("status")} if subresource else current) if current else None,
                change=change,
                subresource=subresource,
                query=options.query,
            )

        change = self._change(Action.UPDATE, resource, caller, namespace, name, document)
        return await self._run(change, prepare, options)

    async def delete(
        self, caller: Caller, plural: str, namespace: str, name: str, options: Obj | None = None
    ) -> Obj:
        """Delete one object with the caller's DeleteOptions; answers what Kubernetes answered (the object, marked
        for deletion when finalizers or a foreground or orphan policy keep it a while)."""
        kind, resource = kind_of(plural)
        options = dict(options or {})
        wanted_uid = str((options.get("preconditions") or {}).get("uid") or "")

        async def prepare() -> Write:
            obj = await self.get(plural, namespace, name)
            before = observed_before(obj, self.snapshot(resource, obj))
            if wanted_uid and wanted_uid != before.uid:
                raise StatusError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {wanted_uid}, UID in object meta: {before.uid}",
                    {"name": name, "group": kind.group, "kind": plural},
                )
            return Write(
                verb="delete",
                kind=kind,
                namespace=namespace,
                name=name,
                body=obj,
                uid=before.uid,
                before=before,
                explain=status_error,
                options=options or None,
            )

        change = self._change(Action.DELETE, resource, caller, namespace, name, None)
        applied = await self._run(change, prepare, WriteOptions(dry_run=bool(options.get("dryRun"))))
        self._remembered(resource, applied, deleted=True)
        answer = applied.answer
        return answer if answer and answer.get("kind") == kind.kind else applied.obj

    async def delete_collection(
        self, caller: Caller, plural: str, namespace: str, query: dict[str, str], options: Obj | None
    ) -> Obj:
        """``DELETE`` on a collection (Kubernetes' deletecollection), made as the caller would make it by hand:
        the objects the selectors match, listed as the caller, then each deleted through the runner (one audited
        change per object, each only that very object by its uid). Answers the list of what was deleted, as
        Kubernetes does. With authentication on, the caller needs Kubernetes' ``deletecollection`` right."""
        kind, resource = kind_of(plural)
        if not await self._may_delete_collection(caller, kind, namespace):
            message = (
                f'{plural}.{kind.group} is forbidden: User "{caller.user}" cannot deletecollection resource '
                f'"{plural}" in API group "{kind.group}" in the namespace "{namespace}"'
            )
            refused = StatusError(403, "Forbidden", message, {"group": kind.group, "kind": plural})
            await self.lifecycle.refuse(
                self._change(Action.DELETE, resource, caller, namespace, "", None), refused
            )
            raise refused
        items: builtins.list[Obj] = []
        version, token = "", ""
        while True:
            page = await _list(
                self.kube,
                kind,
                namespace,
                {**_selectors(query), "limit": "500", "continue": token},
            )
            items += page.get("items") or []
            version = version or str((page.get("metadata") or {}).get("resourceVersion") or "")
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                break
        deleted = []
        for item in items:
            metadata = item.get("metadata") or {}
            preconditions = {"uid": metadata.get("uid"), **((options or {}).get("preconditions") or {})}
            try:
                answer = await self.delete(
                    caller,
                    plural,
                    namespace,
                    str(metadata.get("name") or ""),
                    {**(options or {}), "preconditions": preconditions},
                )
            except StatusError as exc:
                if exc.status == 404:  # deleted meanwhile, as Kubernetes' own deletecollection ignores
                    continue
                raise
            deleted.append(answer)
        return {
            "apiVersion": kind.api_version,
            "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": version},
            "items": deleted,
        }

    async def _may_delete_collection(self, caller: Caller, kind: Kind, namespace: str) -> bool:
        """Kubernetes' own question for a deletecollection, asked for a verified caller (without authentication
        the service acts as itself, and Kubernetes answers each list and delete)."""
        if self.authorizer is None or not caller.verified:
            return True
        return await self.authorizer.may(
            caller.identity, "deletecollection", kind.group, kind.plural, namespace
        )

    async def _current(self, kind: Kind, namespace: str, name: str, subresource: str) -> Obj:
        """The object as the caller may read it (through its status subresource for a status write)."""
        try:
            return await self.kube.get(kind, namespace, name, subresource=subresource)
        except KubeError as exc:
            raise status_error(exc) from None

    async def _run(
        self, change: Change, prepare: Callable[[], Awaitable[Write]], options: WriteOptions
    ) -> Applied:
        return await self.lifecycle.run(change, prepare, dry_run=options.dry_run)

    async def _with_templates(self, plural: str, namespace: str, body: Obj) -> Obj:
        """The object with the compute templates its groups name applied (read as the caller), as upstream's V2
        routes do; the audit row keeps the object as the caller sent it."""
        wanted = named_templates(plural, body)
        if not wanted:
            return body
        found = await asyncio.gather(*(self._template(namespace, name) for name in wanted))
        try:
            result: Obj = with_templates(plural, body, dict(zip(wanted, found, strict=True)))
        except BuildError as exc:
            raise StatusError(422, "Invalid", exc.detail) from None
        return result

    async def _template(self, namespace: str, name: str) -> ComputeTemplate:
        try:
            return await self.templates.read(namespace, name)
        except ApiError as exc:
            refused = exc.code in (Code.FAILED_PRECONDITION, Code.INVALID_ARGUMENT, Code.NOT_FOUND)
            status = 422 if refused else exc.http_status
            raise StatusError(
                status,
                STATUS_REASONS.get(status, ""),
                f"Cannot get compute template for name '{name}' in namespace '{namespace}', error: {exc.message}",
            ) from None

    def _remembered(self, resource: Resource, applied: Applied, deleted: bool = False) -> Obj:
        """The V1 reads of this replica see the change at once, as they see V1 writes (a dry run changed nothing)."""
        if applied.intent_id:
            self.kinds[resource].remember(applied, deleted=deleted)
        return applied.obj


def _version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _same_name(body: Obj, name: str) -> None:
    given = str(body["metadata"].get("name") or "")
    if given != name:
        raise StatusError(
            400,
            "BadRequest",
            f"the name of the object ({given}) does not match the name on the URL ({name})",
        )


def _selectors(query: Mapping[str, str]) -> dict[str, str]:
    return {key: query[key] for key in ("labelSelector", "fieldSelector") if query.get(key)}


def carries_version(patch_type: str, document: Any) -> bool:
    """Whether a patch names the resourceVersion it applies to (then a conflict is the caller's answer)."""
    if patch_type == JSON_PATCH:
        return isinstance(document, list) and any(
            isinstance(op, dict) and str(op.get("path", "")).startswith("/metadata/resourceVersion")
            for op in document
        )
    metadata = document.get("metadata") if isinstance(document, dict) else None
    return isinstance(metadata, dict) and metadata.get("resourceVersion") is not None


def is_version_conflict(error: ApiError) -> bool:
    """A 409 because the object changed meanwhile (not a taken name, nor a server-side apply's field conflict)."""
    if not isinstance(error, StatusError) or error.status != 409 or error.reason != "Conflict":
        return False
    causes = (error.details or {}).get("causes") or []
    return not any(cause.get("reason") == "FieldManagerConflict" for cause in causes)


def apply_patch(patch_type: str, current: Obj, document: Any) -> Any:
    """``document`` applied to ``current`` as Kubernetes applies it: a malformed patch is 400, one that does not
    apply to the object 422."""
    if patch_type == MERGE:
        if not isinstance(document, dict):
            raise StatusError(400, "BadRequest", "a JSON merge patch must be a JSON object")
        return merge_patch(current, document)
    if not isinstance(document, list):
        raise StatusError(
            400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    try:
        patch = jsonpatch.JsonPatch(document)
    except (jsonpatch.InvalidJsonPatch, TypeError, AttributeError) as exc:
        raise StatusError(400, "BadRequest", f"invalid JSON patch: {exc}") from None
    try:
        return patch.apply(current)
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        TypeError,
        KeyError,
        IndexError,
    ) as exc:
        raise StatusError(422, "Invalid", f"the JSON patch does not apply to the object: {exc}") from None


def merge_patch(target: Any, document: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(document, dict):
        return document
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in document.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _checked(kind: Kind, namespace: str, body: Any) -> Obj:
    if not isinstance(body, dict):
        raise StatusError(400, "BadRequest", "the request body must be a JSON object")
    if (
        body.get("kind", kind.kind) != kind.kind
        or body.get("apiVersion", kind.api_version) != kind.api_version
    ):
        raise StatusError(400, "BadRequest", f"the body must be a {kind.api_version} {kind.kind}")
    metadata = dict(body.get("metadata") or {})
    if metadata.get("namespace", namespace) != namespace:
        raise StatusError(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
        )
    metadata["namespace"] = namespace
    return {**body, "apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}


def proxied_service_name(service: str) -> str | None:
    """The Service a proxy path names: ``[http:|https:]name[:port]`` as Kubernetes takes it; None when it is not
    in that form."""
    for scheme in ("https:", "http:"):
        if service.startswith(scheme):
            service = service[len(scheme) :]
            break
    name, _, port = service.partition(":")
    if label_problem(name) is not None or ":" in port:
        return None
    return name


def ray_events_only(core: bool, query: dict[str, str]) -> dict[str, str]:
    """The query with a field selector that keeps only events about Ray objects, added to the caller's own."""
    field = "involvedObject.apiVersion" if core else "regarding.apiVersion"
    ours = f"{field}={RAY_CLUSTERS.api_version}"
    given = query.get("fieldSelector", "").strip()
    return {**query, "fieldSelector": f"{given},{ours}" if given else ours}


async def _watch(
    kube: KubeClient, kind: Kind, namespace: str | None, query: dict[str, str]
) -> AsyncIterator[bytes]:
    passed = {
        key: query[key]
        for key in (
            "labelSelector",
            "fieldSelector",
            "resourceVersion",
            "resourceVersionMatch",
            "allowWatchBookmarks",
            "timeoutSeconds",
            "sendInitialEvents",
        )
        if query.get(key)
    }
    passed["timeoutSeconds"] = str(watch_seconds(query))
    try:
        return await open_watch(kube, kind, namespace, passed)
    except KubeError as exc:
        raise status_error(exc) from None


async def _list(kube: KubeClient, kind: Kind, namespace: str | None, query: dict[str, str]) -> Obj:
    try:
        result = await kube.list(
            kind,
            namespace,
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            limit=int(query.get("limit") or 0),
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
        )
    except ValueError:
        raise StatusError(400, "BadRequest", "limit must be an integer") from None
    except KubeError as exc:
        raise status_error(exc) from None
    return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List", **result}


WATCH_DEFAULT_SECONDS = 1800
WATCH_MAX_SECONDS = 3600


def watch_seconds(query: dict[str, str]) -> int:
    """How long a watch lives: its ``timeoutSeconds`` (default 30 min, at most an hour), as Kubernetes bounds it."""
    try:
        asked = int(query.get("timeoutSeconds") or WATCH_DEFAULT_SECONDS)
    except ValueError:
        raise StatusError(400, "BadRequest", "timeoutSeconds must be an integer") from None
    return max(1, min(asked, WATCH_MAX_SECONDS))
