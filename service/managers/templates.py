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
from service.managers.kube_errors import api_error
from service.managers.read_model import forbidden
from service.managers.resources import ResourceManager
from service.managers.validation import require, validate_namespace
from service.schemas.common import ClusterSpec
from service.schemas.compute_template import ComputeTemplate
from service.vocabulary import COMPUTE_TEMPLATE_SELECTOR, CONFIGMAPS, Resource


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
        try:
            return compute_template_to_configmap(message, namespace)
        except BuildError as exc:
            raise InvalidInputError(
                f"Failed to convert compute runtime ({namespace}/{message.name}): {exc}. "
                "Use a Kubernetes quantity suffix such as Gi, Mi or G in memoryUnit."
            ) from None

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
        return msgspec.to_builtins(msgspec.structs.replace(item, created_at=""))  # type: ignore[no-any-return]

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
