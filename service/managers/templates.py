"""Compute templates: ConfigMaps labelled as templates, in upstream's layout."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from service import names
from service.converters.compute_template import compute_template_from_configmap, compute_template_to_configmap
from service.converters.errors import BuildError
from service.errors import ApiError, FailedPreconditionError, InvalidInputError, already_exists
from service.kube.client import Obj
from service.kube.errors import KubeConflictError, KubeError, KubeNotFoundError
from service.managers.context import Caller
from service.managers.kube_errors import api_error
from service.managers.read_model import forbidden
from service.managers.resources import ResourceManager
from service.managers.validation import require, validate_namespace
from service.schemas.common import ClusterSpec
from service.schemas.compute_template import ComputeTemplate
from service.vocabulary import (
    COMPUTE_TEMPLATE_CONFIG_TYPE,
    COMPUTE_TEMPLATE_SELECTOR,
    CONFIG_TYPE_LABEL,
    CONFIGMAPS,
    Resource,
)


class ComputeTemplateManager(ResourceManager[ComputeTemplate]):
    resource = Resource.COMPUTE_TEMPLATES
    kind = CONFIGMAPS
    message_type = ComputeTemplate
    name_problem = staticmethod(names.subdomain_problem)
    list_selector = COMPUTE_TEMPLATE_SELECTOR

    async def build(self, namespace: str, message: ComputeTemplate, user: str, legacy: bool) -> Obj:
        wrap = self.texts.validate_wrap
        validate_namespace(namespace, message.namespace, self.texts.namespace_mismatch, wrap)
        require(bool(message.name), self.texts.body_name_empty, wrap)
        self.check_name(message.name, wrap)
        require(message.cpu != 0, "Cpu amount is zero. Please specify a valid value.", wrap)
        require(message.memory != 0, "Memory amount is zero. Please specify a valid value.", wrap)
        check_extensions(message, wrap)
        try:
            return compute_template_to_configmap(message, namespace)
        except BuildError as exc:
            raise InvalidInputError(
                f"Failed to convert compute runtime ({namespace}/{message.name}): {exc}. "
                "Use a Kubernetes quantity suffix such as Gi, Mi or G in memoryUnit."
            ) from None

    async def update(
        self, caller: Caller, namespace: str, name: str, message: ComputeTemplate | None
    ) -> ComputeTemplate:
        """Replace a template's values. Clusters built from it keep their pods' resources; new ones get these."""
        message = message or ComputeTemplate()

        async def edit(existing: Obj) -> Obj:
            wrap = "Validate update compute template request failed."
            require(
                message.name in ("", name),
                f"The name in the request ({message.name}) is different from the name in the path ({name}).",
                wrap,
            )
            labels = (existing.get("metadata") or {}).get("labels") or {}
            if labels.get(CONFIG_TYPE_LABEL) != COMPUTE_TEMPLATE_CONFIG_TYPE:
                raise FailedPreconditionError(
                    f"ConfigMap {namespace}/{name} is not a compute template (it lacks the label "
                    f"{CONFIG_TYPE_LABEL}={COMPUTE_TEMPLATE_CONFIG_TYPE}): only templates can be updated here"
                )
            request = msgspec.structs.replace(
                message, name=name, namespace=message.namespace or namespace, resource_version=""
            )
            built = await self.build(namespace, request, "", False)
            metadata = existing.get("metadata") or {}
            built["metadata"] = {
                **metadata,
                "labels": {**(metadata.get("labels") or {}), **built["metadata"]["labels"]},
            }
            return built

        spec = msgspec.to_builtins(message)
        return await self.revise(caller, namespace, name, spec, message.resource_version, edit)

    def create_error(self, exc: KubeError, namespace: str, name: str) -> ApiError:
        if isinstance(exc, KubeConflictError) and exc.already_exists:
            message = f"Compute template with name {name} already exists in namespace {namespace}"
            return already_exists(message, self.texts.create_wrap)
        return api_error(exc, self.texts.create_failed.format(namespace=namespace, name=name))

    async def to_api(self, objs: Sequence[Obj]) -> list[ComputeTemplate]:
        return [compute_template_from_configmap(obj) for obj in objs]

    def convert(self, obj: Obj) -> ComputeTemplate:
        return compute_template_from_configmap(obj)

    def with_record(
        self, item: ComputeTemplate, created_at: str, user: str, deleted_at: str
    ) -> ComputeTemplate:
        return msgspec.structs.replace(item, created_at=created_at, user=user, deleted_at=deleted_at)

    def snapshot(self, obj: Obj) -> dict[str, Any]:
        item = compute_template_from_configmap(obj)
        return msgspec.to_builtins(  # type: ignore[no-any-return]
            msgspec.structs.replace(item, created_at="", resource_version="")
        )

    def listed(self, objs: list[Obj]) -> list[Obj]:
        return sorted(
            objs, key=lambda cm: (cm["metadata"].get("namespace", ""), cm["metadata"].get("name", ""))
        )

    async def resolve(self, namespace: str, spec: ClusterSpec | None) -> dict[str, ComputeTemplate]:
        """The compute templates a cluster spec names, read once each; a missing one is a failed precondition."""
        wanted = sorted(set(_template_names(spec)))
        results = await asyncio.gather(*(self.read(namespace, name) for name in wanted))
        return dict(zip(wanted, results, strict=True))

    async def read(self, namespace: str, name: str) -> ComputeTemplate:
        """One template, read as the caller; a missing one is a failed precondition."""
        self.check_name(name)
        reads, store = self.reads, self.store
        if reads is not None and store is not None and reads.ready() and reads.covers(namespace):
            if not await reads.may("get", self.kind, namespace):
                raise api_error(
                    forbidden(self.kind, "get", namespace, name),
                    f"Cannot get compute template for name '{name}' in namespace '{namespace}'",
                )
            entry = store.get(namespace, name)
            if entry is not None:
                return entry.item
        try:
            return compute_template_from_configmap(await self.kube.get(CONFIGMAPS, namespace, name))
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


_AFFINITY_KINDS = ("nodeAffinity", "podAffinity", "podAntiAffinity")


def check_extensions(template: ComputeTemplate, wrap: str) -> None:
    """The fields beyond upstream: limits at least the requests, an affinity Kubernetes can read."""
    require(
        not template.cpu_limit or template.cpu_limit >= template.cpu,
        f"cpuLimit ({template.cpu_limit}) is below cpu ({template.cpu}): a limit cannot be less than the request. "
        "Please specify a valid value (0: the limit equals cpu).",
        wrap,
    )
    require(
        not template.memory_limit or template.memory_limit >= template.memory,
        f"memoryLimit ({template.memory_limit}) is below memory ({template.memory}): a limit cannot be less than "
        "the request. Please specify a valid value (0: the limit equals memory).",
        wrap,
    )
    if template.affinity is not None:
        unknown = sorted(set(template.affinity) - set(_AFFINITY_KINDS))
        require(
            not unknown and all(isinstance(v, dict) for v in template.affinity.values()),
            f"affinity must be a Kubernetes Affinity: an object of {', '.join(_AFFINITY_KINDS)} objects"
            + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            wrap,
        )
    for key in template.node_selector:
        require(
            bool(key) and len(key) <= names.SUBDOMAIN_MAX,
            f"nodeSelector key {names.shown(key)} is not a valid label key. Please specify a valid value.",
            wrap,
        )
