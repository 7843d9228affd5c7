"""Environment variables: API ``EnvironmentVariables`` <-> container ``env`` / autoscaler ``envFrom``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from service.schemas.common import EnvironmentVariables, EnvSource, EnvValueFrom

# Variables the server or the operator adds to every container; never shown back to the user.
HEAD_RESERVED = frozenset(
    {"MY_POD_IP", "RAY_CLUSTER_NAME", "RAY_PORT", "RAY_ADDRESS", "RAY_USAGE_STATS_KUBERAY_IN_USE"}
)
WORKER_RESERVED = frozenset(
    {
        "RAY_DISABLE_DOCKER_CPU_WARNING",
        "TYPE",
        "CPU_REQUEST",
        "CPU_LIMITS",
        "MEMORY_REQUESTS",
        "MEMORY_LIMITS",
        "MY_POD_NAME",
        "MY_POD_IP",
        "FQ_RAY_IP",
        "RAY_IP",
        "RAY_CLUSTER_NAME",
        "RAY_PORT",
        "RAY_ADDRESS",
        "RAY_USAGE_STATS_KUBERAY_IN_USE",
        "REDIS_PASSWORD",
    }
)


def field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def resource_env(name: str, container: str, resource: str) -> dict[str, Any]:
    return {
        "name": name,
        "valueFrom": {"resourceFieldRef": {"containerName": container, "resource": resource}},
    }


def env_to_kube(envs: EnvironmentVariables | None) -> list[dict[str, Any]]:
    """Container ``env`` entries: plain values first, then references, each in request order."""
    if envs is None:
        return []
    out: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in envs.values.items()]
    out.extend({"name": name, "valueFrom": _value_from(ref)} for name, ref in envs.values_from.items())
    return out


def _value_from(ref: EnvValueFrom) -> dict[str, Any]:
    if ref.source == EnvSource.CONFIGMAP:
        return {"configMapKeyRef": {"name": ref.name, "key": ref.key}}
    if ref.source == EnvSource.SECRET:
        return {"secretKeyRef": {"name": ref.name, "key": ref.key}}
    if ref.source == EnvSource.RESOURCEFIELD:
        return {"resourceFieldRef": {"containerName": ref.name, "resource": ref.key}}
    return {"fieldRef": {"fieldPath": ref.key}}


def env_from_kube(
    env: Sequence[Mapping[str, Any]] | None, reserved: Iterable[str] = ()
) -> EnvironmentVariables | None:
    """The API form of a container's ``env``; ``None`` when the container has no variables at all."""
    if not env:
        return None
    hidden = frozenset(reserved)
    result = EnvironmentVariables()
    for item in env:
        name = item.get("name", "")
        if name in hidden:
            continue
        source = item.get("valueFrom")
        if not source:
            result.values[name] = item.get("value", "")
            continue
        ref = _ref_from_kube(source)
        if ref is not None:
            result.values_from[name] = ref
    return result


def _ref_from_kube(source: Mapping[str, Any]) -> EnvValueFrom | None:
    if ref := source.get("configMapKeyRef"):
        return EnvValueFrom(source=EnvSource.CONFIGMAP, name=ref.get("name", ""), key=ref.get("key", ""))
    if ref := source.get("secretKeyRef"):
        return EnvValueFrom(source=EnvSource.SECRET, name=ref.get("name", ""), key=ref.get("key", ""))
    if ref := source.get("resourceFieldRef"):
        return EnvValueFrom(
            source=EnvSource.RESOURCEFIELD, name=ref.get("containerName", ""), key=ref.get("resource", "")
        )
    if ref := source.get("fieldRef"):
        return EnvValueFrom(source=EnvSource.FIELD, key=ref.get("fieldPath", ""))
    return None


def autoscaler_env_to_kube(
    envs: EnvironmentVariables | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The autoscaler's ``env`` (plain values) and ``envFrom`` (whole ConfigMaps / Secrets; keys ignored)."""
    if envs is None:
        return [], []
    env = [{"name": name, "value": value} for name, value in envs.values.items()]
    env_from: list[dict[str, Any]] = []
    for ref in envs.values_from.values():
        if ref.source == EnvSource.CONFIGMAP:
            env_from.append({"configMapRef": {"name": ref.name}})
        elif ref.source == EnvSource.SECRET:
            env_from.append({"secretRef": {"name": ref.name}})
    return env, env_from


def autoscaler_env_from_kube(
    env: Sequence[Mapping[str, Any]] | None, env_from: Sequence[Mapping[str, Any]] | None
) -> EnvironmentVariables | None:
    """The autoscaler's variables; ``envFrom`` entries are keyed by their list index, as upstream does."""
    if not env and not env_from:
        return None
    result = env_from_kube(env) or EnvironmentVariables()
    for index, item in enumerate(env_from or ()):
        if ref := item.get("configMapRef"):
            result.values_from[str(index)] = EnvValueFrom(
                source=EnvSource.CONFIGMAP, name=ref.get("name", "")
            )
        elif ref := item.get("secretRef"):
            result.values_from[str(index)] = EnvValueFrom(source=EnvSource.SECRET, name=ref.get("name", ""))
    return result
