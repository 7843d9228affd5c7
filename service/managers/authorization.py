"""Questions the service asks Kubernetes about a caller's rights, for what it serves itself (the audit trail).

Everything else is decided by Kubernetes directly, because those calls run as the caller (impersonation). Answers
are SubjectAccessReviews made with the service's own account, cached briefly per caller and question.
"""

from __future__ import annotations

import asyncio

from service.errors import UnavailableError
from service.identity import Identity, as_service
from service.kube.client import KubeClient
from service.kube.errors import KubeError
from service.managers.authentication import TimedCache
from service.vocabulary import GROUP, NAMESPACES, RAY_CLUSTER_PLURAL, SUBJECT_ACCESS_REVIEWS


class Authorizer:
    def __init__(self, kube: KubeClient, cache_seconds: float) -> None:
        self.kube = kube
        self.cache = TimedCache(cache_seconds)

    async def may(self, identity: Identity, verb: str, group: str, resource: str, namespace: str) -> bool:
        """Whether ``identity`` may ``verb`` ``resource`` in ``namespace`` ("" for every namespace)."""
        key = "\x00".join([identity.user, ",".join(identity.groups), verb, group, resource, namespace])
        found, allowed = self.cache.get(key)
        if found:
            return bool(allowed)
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": identity.user,
                "groups": list(identity.groups),
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": group,
                    "resource": resource,
                },
            },
        }
        try:
            with as_service():
                answer = await self.kube.create(SUBJECT_ACCESS_REVIEWS, None, review)
        except KubeError as exc:
            raise UnavailableError(
                f"the Kubernetes API could not review the caller's rights: {exc.message}"
            ) from None
        allowed = bool((answer.get("status") or {}).get("allowed"))
        self.cache.put(key, allowed)
        return allowed

    async def may_read_audit(self, identity: Identity, namespace: str) -> bool:
        """The audit trail of a namespace is for those who may list its Ray clusters ("" : every namespace)."""
        return await self.may(identity, "list", GROUP, RAY_CLUSTER_PLURAL, namespace)

    async def audit_namespaces(self, identity: Identity) -> list[str] | None:
        """The namespaces whose audit trail ``identity`` may read; None means all of them."""
        if await self.may_read_audit(identity, ""):
            return None
        try:
            with as_service():
                listed = await self.kube.list(NAMESPACES, None)
        except KubeError as exc:
            raise UnavailableError(f"the Kubernetes API could not list namespaces: {exc.message}") from None
        names = [str((item.get("metadata") or {}).get("name") or "") for item in listed.get("items") or []]
        allowed = await asyncio.gather(*(self.may_read_audit(identity, name) for name in names))
        return [name for name, ok in zip(names, allowed, strict=True) if ok]
