"""Compute templates: ConfigMaps labelled as templates, with SQL records."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Iterable
from typing import Any

import msgspec

from service.converters.compute_template import compute_template_from_configmap, compute_template_to_configmap
from service.converters.errors import BuildError
from service.db.records import Action, Records, Resource, as_utc
from service.errors import (
    ApiError,
    FailedPreconditionError,
    InvalidInputError,
    UnavailableError,
    already_exists,
    invalid_input,
    not_found,
)
from service.kube.client import KubeClient
from service.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from service.managers.context import RequestContext
from service.managers.kube_errors import api_error
from service.managers.recording import recorded
from service.managers.resources import snapshot_of
from service.managers.validation import require, validate_namespace
from service.schemas.base import convert, format_time
from service.schemas.common import ClusterSpec
from service.schemas.compute_template import ComputeTemplate

TEMPLATE_SELECTOR = "ray.io/config-type=compute-template"
_NAME_EMPTY = "Compute template name is empty. Please specify a valid value."


class ComputeTemplateManager:
    def __init__(self, kube: KubeClient, records: Records) -> None:
        self.kube = kube
        self.records = records

    async def create(self, ctx: RequestContext, namespace: str, template: ComputeTemplate) -> ComputeTemplate:
        wrap = "Validate compute template runtime request failed."
        user = ctx.user_for(template.user)
        spec = snapshot_of(template)

        async def work() -> dict[str, Any]:
            validate_namespace(namespace, template.namespace, "defined in the compute template", wrap)
            require(bool(template.name), _NAME_EMPTY, wrap)
            require(template.cpu != 0, "Cpu amount is zero. Please specify a valid value.", wrap)
            require(template.memory != 0, "Memory amount is zero. Please specify a valid value.", wrap)
            try:
                body = compute_template_to_configmap(template, namespace)
            except BuildError as exc:
                raise InvalidInputError(
                    f"Failed to convert compute runtime ({namespace}/{template.name}): {exc}. "
                    "Use a Kubernetes quantity suffix such as Gi, Mi or G in memoryUnit."
                ) from None
            try:
                created = await self.kube.create_configmap(namespace, body)
            except KubeConflictError as exc:
                if not exc.already_exists:
                    raise api_error(exc, "Create compute template failed.") from None
                message = (
                    f"Compute template with name {template.name} already exists in namespace {namespace}"
                )
                raise already_exists(message, "Create compute template failed.") from None
            except KubeError as exc:
                raise api_error(
                    exc, f"Failed to create a compute runtime for ({namespace}/{template.name})"
                ) from None
            return created

        created = await recorded(
            self.records,
            Resource.COMPUTE_TEMPLATES,
            ctx,
            Action.CREATE,
            namespace,
            template.name,
            user,
            spec,
            work,
        )
        try:
            row = await self.records.success(
                action=Action.CREATE,
                resource=Resource.COMPUTE_TEMPLATES,
                namespace=namespace,
                name=template.name,
                user=user,
                spec=spec,
                uid=created.get("metadata", {}).get("uid", ""),
                request_id=ctx.request_id,
            )
        except ApiError:
            with contextlib.suppress(KubeError):
                await self.kube.delete_configmap(namespace, template.name)
            raise UnavailableError(
                f"Compute template {namespace}/{template.name} was not created: its record could not be written"
            ) from None
        result = compute_template_from_configmap(created)
        return _with_record(result, format_time(as_utc(row.created_at)), row.user, "")

    async def get(self, namespace: str, name: str) -> ComputeTemplate:
        if not name:
            raise invalid_input(_NAME_EMPTY)
        try:
            configmap = await self.kube.get_configmap(namespace, name)
        except KubeNotFoundError as exc:
            raise not_found(
                f"Compute template {name} not found", "Get compute template failed.", exc.message
            ) from None
        except KubeError as exc:
            raise api_error(exc, "Get compute template failed.") from None
        (item,) = await self._merge([configmap], namespace)
        return item

    async def list(
        self, namespace: str | None, include_deleted: bool = False
    ) -> builtins.list[ComputeTemplate]:
        wrap = (
            f"List compute templates in namespace {namespace} failed."
            if namespace is not None
            else "List all compute templates from all namespaces failed."
        )
        try:
            configmaps = await self.kube.list_configmaps(namespace, TEMPLATE_SELECTOR)
        except KubeError as exc:
            raise api_error(exc, wrap) from None
        configmaps.sort(key=lambda cm: (cm["metadata"].get("namespace", ""), cm["metadata"].get("name", "")))
        items = await self._merge(configmaps, namespace)
        if include_deleted:
            for row in await self.records.deleted(Resource.COMPUTE_TEMPLATES, namespace):
                spec = dict(row.spec or {})
                template = convert({**spec, "name": row.name, "namespace": row.namespace}, ComputeTemplate)
                deleted = format_time(as_utc(row.deleted_at)) if row.deleted_at else ""
                items.append(_with_record(template, format_time(as_utc(row.created_at)), row.user, deleted))
        return items

    async def _merge(
        self, configmaps: builtins.list[dict[str, Any]], namespace: str | None
    ) -> builtins.list[ComputeTemplate]:
        rows = await self.records.live(Resource.COMPUTE_TEMPLATES, namespace) if configmaps else {}
        items = []
        for cm in configmaps:
            metadata = cm.get("metadata", {})
            row = rows.get((metadata.get("namespace", ""), metadata.get("name", "")))
            if row is not None and row.uid and row.uid != metadata.get("uid"):
                row = None
            created = format_time(as_utc(row.created_at)) if row else metadata.get("creationTimestamp", "")
            user = row.user if row else (metadata.get("labels") or {}).get("ray.io/user", "")
            items.append(_with_record(compute_template_from_configmap(cm), created, user, ""))
        return items

    async def delete(self, ctx: RequestContext, namespace: str, name: str) -> None:
        async def work() -> dict[str, Any]:
            if not name:
                raise invalid_input(_NAME_EMPTY)
            try:
                configmap = await self.kube.get_configmap(namespace, name)
                await self.kube.delete_configmap(namespace, name)
            except KubeNotFoundError as exc:
                raise not_found(
                    f"Compute template {name} not found", "Get compute template failure", exc.message
                ) from None
            except KubeError as exc:
                raise api_error(exc, f"failed to delete compute template {name}.") from None
            return configmap

        configmap = await recorded(
            self.records,
            Resource.COMPUTE_TEMPLATES,
            ctx,
            Action.DELETE,
            namespace,
            name,
            ctx.principal,
            None,
            work,
        )
        template = compute_template_from_configmap(configmap)
        await self.records.success(
            action=Action.DELETE,
            resource=Resource.COMPUTE_TEMPLATES,
            namespace=namespace,
            name=name,
            user=ctx.principal,
            spec=snapshot_of(template),
            uid=configmap.get("metadata", {}).get("uid", ""),
            request_id=ctx.request_id,
        )

    async def resolve(self, namespace: str, spec: ClusterSpec | None) -> dict[str, ComputeTemplate]:
        """The compute templates a cluster spec names, read once each; a missing one is a failed precondition."""
        names = sorted(set(_template_names(spec)))
        results = await asyncio.gather(*(self._read(namespace, name) for name in names))
        return dict(zip(names, results, strict=True))

    async def _read(self, namespace: str, name: str) -> ComputeTemplate:
        try:
            return compute_template_from_configmap(await self.kube.get_configmap(namespace, name))
        except KubeNotFoundError:
            raise FailedPreconditionError(
                f"Compute template {name} not found in namespace {namespace}: create it first "
                f"(POST /apis/v1/namespaces/{namespace}/compute_templates) or name an existing one"
            ) from None
        except KubeError as exc:
            raise api_error(
                exc, f"Cannot get compute template for name '{name}' in namespace '{namespace}'"
            ) from None


def _template_names(spec: ClusterSpec | None) -> Iterable[str]:
    if spec is None:
        return
    if spec.head_group_spec is not None and spec.head_group_spec.compute_template:
        yield spec.head_group_spec.compute_template
    for worker in spec.worker_group_spec:
        if worker.compute_template:
            yield worker.compute_template


def _with_record(template: ComputeTemplate, created_at: str, user: str, deleted_at: str) -> ComputeTemplate:
    return msgspec.structs.replace(template, created_at=created_at, user=user, deleted_at=deleted_at)
