"""API volumes <-> pod ``volumes`` plus container ``volumeMounts``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service import vocabulary
from service.converters.errors import BuildError
from service.converters.quantity import QuantityError, canonical_or_same, canonical_quantity
from service.schemas.common import AccessMode, HostPathType, MountPropagationMode, Volume, VolumeType

_PROPAGATION = {
    MountPropagationMode.HOSTTOCONTAINER: "HostToContainer",
    MountPropagationMode.BIDIRECTIONAL: "Bidirectional",
}
_PROPAGATION_BACK = {v: k for k, v in _PROPAGATION.items()}
_ACCESS_MODES = {
    AccessMode.RWO: "ReadWriteOnce",
    AccessMode.ROX: "ReadOnlyMany",
    AccessMode.RWX: "ReadWriteMany",
}
_ACCESS_MODES_BACK = {v: k for k, v in _ACCESS_MODES.items()}


def volume_mount(volume: Volume) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": volume.name, "mountPath": volume.mount_path}
    if volume.read_only:
        mount["readOnly"] = True
    if propagation := _PROPAGATION.get(volume.mount_propagation_mode):
        mount["mountPropagation"] = propagation
    return mount


def volumes_to_kube(volumes: Sequence[Volume]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The container mounts and pod volumes for ``volumes``; raises ``BuildError`` for bad storage sizes."""
    mounts = [volume_mount(v) for v in volumes]
    pod_volumes = [pv for v in volumes if (pv := pod_volume(v)) is not None]
    return mounts, pod_volumes


def pod_volume(volume: Volume) -> dict[str, Any] | None:
    """The pod volume for one API volume (``None`` for an unknown type, which only gets a mount)."""
    kind = int(volume.volume_type)
    source: dict[str, Any]
    if kind == VolumeType.PERSISTENT_VOLUME_CLAIM:
        source = {"persistentVolumeClaim": _with_read_only({"claimName": volume.source}, volume.read_only)}
    elif kind == VolumeType.HOST_PATH:
        path_type = "File" if volume.host_path_type == HostPathType.FILE else "Directory"
        source = {"hostPath": {"path": volume.source, "type": path_type}}
    elif kind == VolumeType.EPHEMERAL:
        source = {"ephemeral": {"volumeClaimTemplate": _claim_template(volume)}}
    elif kind == VolumeType.CONFIGMAP:
        source = {"configMap": _with_items({"name": volume.source}, volume.items)}
    elif kind == VolumeType.SECRET:
        source = {"secret": _with_items({"secretName": volume.source}, volume.items)}
    elif kind == VolumeType.EMPTY_DIR:
        source = {"emptyDir": _empty_dir(volume)}
    else:
        return None
    return {"name": volume.name, **source}


def _with_read_only(source: dict[str, Any], read_only: bool) -> dict[str, Any]:
    return {**source, "readOnly": True} if read_only else source


def _with_items(source: dict[str, Any], items: Mapping[str, str]) -> dict[str, Any]:
    if items:
        source["items"] = [{"key": key, "path": path} for key, path in items.items()]
    return source


def _claim_template(volume: Volume) -> dict[str, Any]:
    if not volume.storage:
        raise BuildError("storage for ephemeral volume is empty")
    try:
        storage = canonical_quantity(volume.storage)
    except QuantityError:
        raise BuildError("storage for ephemeral volume is not specified correctly") from None
    spec: dict[str, Any] = {
        "accessModes": [_ACCESS_MODES.get(volume.access_mode, "ReadWriteOnce")],
        "resources": {"requests": {"storage": storage}},
    }
    if volume.storage_class_name:
        spec["storageClassName"] = volume.storage_class_name
    return {"metadata": {"labels": {vocabulary.MANAGED_BY_LABEL: vocabulary.MANAGED_BY}}, "spec": spec}


def _empty_dir(volume: Volume) -> dict[str, Any]:
    if not volume.storage:
        return {}
    try:
        return {"sizeLimit": canonical_quantity(volume.storage)}
    except QuantityError:
        raise BuildError("storage for empty dir volume is not specified correctly") from None


def volumes_from_kube(
    pod_volumes: Sequence[Mapping[str, Any]] | None, mounts: Sequence[Mapping[str, Any]] | None
) -> list[Volume]:
    """API volumes for the pod volumes of a known type, with mount details from the first matching mount."""
    by_name: dict[str, Mapping[str, Any]] = {}
    for mount in mounts or ():
        by_name.setdefault(mount.get("name", ""), mount)
    out = []
    for pod_vol in pod_volumes or ():
        volume = _volume_from_kube(pod_vol, by_name.get(pod_vol.get("name", ""), {}))
        if volume is not None:
            out.append(volume)
    return out


def mount_from_kube(mount: Mapping[str, Any]) -> Volume:
    """A volume described by a mount only (autoscaler volumes)."""
    return Volume(
        name=mount.get("name", ""),
        mount_path=mount.get("mountPath", ""),
        read_only=bool(mount.get("readOnly", False)),
        mount_propagation_mode=_PROPAGATION_BACK.get(
            mount.get("mountPropagation", ""), MountPropagationMode.NONE
        ),
    )


def _volume_from_kube(pod_vol: Mapping[str, Any], mount: Mapping[str, Any]) -> Volume | None:
    # Mount-level fields (readOnly, propagation) are kept for every type so that requests round-trip.
    volume = mount_from_kube(mount)
    volume.name = pod_vol.get("name", "")
    if (cm := pod_vol.get("configMap")) is not None:
        volume.volume_type = VolumeType.CONFIGMAP
        volume.source = cm.get("name", "")
        volume.items = _items_from_kube(cm.get("items"))
    elif (secret := pod_vol.get("secret")) is not None:
        volume.volume_type = VolumeType.SECRET
        volume.source = secret.get("secretName", "")
        volume.items = _items_from_kube(secret.get("items"))
    elif (empty_dir := pod_vol.get("emptyDir")) is not None:
        volume.volume_type = VolumeType.EMPTY_DIR
        volume.storage = canonical_or_same(str(empty_dir.get("sizeLimit", "")))
    elif (host_path := pod_vol.get("hostPath")) is not None:
        volume.volume_type = VolumeType.HOST_PATH
        volume.source = host_path.get("path", "")
        volume.host_path_type = (
            HostPathType.FILE if host_path.get("type") == "File" else HostPathType.DIRECTORY
        )
    elif (claim := pod_vol.get("persistentVolumeClaim")) is not None:
        volume.volume_type = VolumeType.PERSISTENT_VOLUME_CLAIM
        volume.source = claim.get("claimName", "")
        volume.read_only = volume.read_only or bool(claim.get("readOnly", False))
    elif (ephemeral := pod_vol.get("ephemeral")) is not None:
        _fill_ephemeral(volume, ephemeral)
    else:
        return None
    return volume


def _items_from_kube(items: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    return {item.get("key", ""): item.get("path", "") for item in items or ()}


def _fill_ephemeral(volume: Volume, ephemeral: Mapping[str, Any]) -> None:
    spec = (ephemeral.get("volumeClaimTemplate") or {}).get("spec") or {}
    volume.volume_type = VolumeType.EPHEMERAL
    modes = spec.get("accessModes") or []
    volume.access_mode = _ACCESS_MODES_BACK.get(modes[0], AccessMode.RWO) if modes else AccessMode.RWO
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "")
    volume.storage = canonical_or_same(str(storage)) if storage else ""
    volume.storage_class_name = spec.get("storageClassName", "")
