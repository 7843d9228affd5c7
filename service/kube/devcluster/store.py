"""The dev cluster's in-memory object store: pure Kubernetes API semantics, no HTTP.

Objects are kept per storage ("ray.io/rayclusters") under etcd-style keys ("<namespace>/<name>"), so
lists come out in the same order a real API server returns them. Every method is synchronous: on one
asyncio loop a method that never awaits runs to completion, so each read-modify-write is atomic without a
lock. Stored objects are never mutated in place (a write stores a new dict), which lets the watch history
share them safely.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import re
import secrets
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JsonObj = dict[str, Any]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


# ---------------------------------------------------------------------------------------------------- errors


class ApiError(Exception):
    """A failed request, carrying what the server puts in the `Status` body."""

    def __init__(self, code: int, reason: str, message: str, details: JsonObj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JsonObj:
        """The `Status` object real Kubernetes sends for this error."""
        body: JsonObj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def not_found(cls, rtype: ResourceType, name: str) -> ApiError:
        return cls(404, "NotFound", f'{rtype.resource} "{name}" not found', rtype.details(name))

    @classmethod
    def conflict(cls, rtype: ResourceType, name: str) -> ApiError:
        message = (
            f'Operation cannot be fulfilled on {rtype.resource} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        return cls(409, "Conflict", message, rtype.details(name))


@dataclass(frozen=True)
class FieldError:
    """One validation failure, rendered the way apimachinery's field.Error is."""

    field: str
    reason: str  # FieldValueInvalid, FieldValueRequired, FieldValueForbidden, FieldValueTooLong
    detail: str

    def text(self) -> str:
        return f"{self.field}: {self.detail}"


def invalid(rtype: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    """The 422 Invalid error for a failed validation, with one `cause` per field error."""
    summary = errors[0].text() if len(errors) == 1 else "[" + ", ".join(e.text() for e in errors) + "]"
    details: JsonObj = {"name": name, "kind": rtype.kind}
    if rtype.group:
        details["group"] = rtype.group
    details["causes"] = [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{rtype.qualified_kind} "{name}" is invalid: {summary}', details)


# -------------------------------------------------------------------------------------------- resource types


@dataclass(frozen=True)
class ResourceType:
    """One served resource, and the behaviours that differ between kinds."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    # CRD-served kinds (ray.io): generation, body must name its kind, DELETE returns the object.
    custom: bool = False
    # With a status subresource, writes to the main resource keep the stored status.
    status_subresource: bool = False
    # Two types with the same storage are one set of objects seen through two API versions.
    storage: str = ""
    # Extra fieldSelector labels (beyond metadata.name/namespace) and the dotted path each reads.
    field_paths: tuple[tuple[str, str], ...] = ()
    to_storage: Callable[[JsonObj], JsonObj] | None = None
    from_storage: Callable[[JsonObj], JsonObj] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """The name used in messages: "rayclusters.ray.io", "configmaps"."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The kind used in Invalid messages: "RayCluster.ray.io", "ConfigMap"."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def storage_key(self) -> str:
        return self.storage or f"{self.group}/{self.plural}"

    def details(self, name: str) -> JsonObj:
        details: JsonObj = {"name": name}
        if self.group:
            details["group"] = self.group
        details["kind"] = self.plural
        return details

    def field_path(self, label: str) -> str | None:
        if label in ("metadata.name", "metadata.namespace"):
            return label
        return dict(self.field_paths).get(label)


# Core v1 and events.k8s.io/v1 events are one set of objects, stored in the events.k8s.io shape; these
# are the fields that differ in name between the two shapes.
_CORE_TO_EVENTS_V1 = {
    "involvedObject": "regarding",
    "message": "note",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
    "reportingComponent": "reportingController",
}
_EVENTS_V1_TO_CORE = {v: k for k, v in _CORE_TO_EVENTS_V1.items()}


def _rename(obj: JsonObj, names: dict[str, str]) -> JsonObj:
    return {names.get(k, k): v for k, v in obj.items()}


def _core_event_out(stored: JsonObj) -> JsonObj:
    view = _rename(stored, _EVENTS_V1_TO_CORE)
    view.setdefault("involvedObject", {})
    for key in ("eventTime", "firstTimestamp", "lastTimestamp"):
        view.setdefault(key, None)  # Go serialises these zero timestamps as null, not absent
    return view


def _events_v1_out(stored: JsonObj) -> JsonObj:
    view = dict(stored)
    view.setdefault("regarding", {})
    # Legacy events have no eventTime and real Kubernetes sends null; note kubernetes_asyncio's
    # EventsV1Event model refuses that unless client-side validation is off.
    view.setdefault("eventTime", None)
    return view


_OBJECT_REF_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")

NAMESPACES = ResourceType("", "v1", "namespaces", "namespace", "Namespace", namespaced=False,
                          short_names=("ns",), status_subresource=True)
CONFIGMAPS = ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", short_names=("cm",))
CORE_EVENTS = ResourceType(
    "", "v1", "events", "event", "Event", short_names=("ev",), storage="events.k8s.io/events",
    field_paths=(
        *((f"involvedObject.{f}", f"involvedObject.{f}") for f in _OBJECT_REF_FIELDS),
        ("reason", "reason"), ("reportingComponent", "reportingComponent"),
        ("source", "source.component"), ("type", "type"),
    ),
    to_storage=lambda view: _rename(view, _CORE_TO_EVENTS_V1),
    from_storage=_core_event_out,
)
EVENTS_V1 = ResourceType(
    "events.k8s.io", "v1", "events", "event", "Event", short_names=("ev",), storage="events.k8s.io/events",
    field_paths=(
        *((f"regarding.{f}", f"regarding.{f}") for f in _OBJECT_REF_FIELDS),
        ("reason", "reason"), ("reportingController", "reportingController"), ("type", "type"),
    ),
    from_storage=_events_v1_out,
)
RAY_CLUSTERS = ResourceType("ray.io", "v1", "rayclusters", "raycluster", "RayCluster",
                            custom=True, status_subresource=True)
RAY_JOBS = ResourceType("ray.io", "v1", "rayjobs", "rayjob", "RayJob", custom=True, status_subresource=True)
RAY_SERVICES = ResourceType("ray.io", "v1", "rayservices", "rayservice", "RayService",
                            custom=True, status_subresource=True)

RESOURCE_TYPES: tuple[ResourceType, ...] = (
    NAMESPACES, CONFIGMAPS, CORE_EVENTS, EVENTS_V1, RAY_CLUSTERS, RAY_JOBS, RAY_SERVICES,
)
INITIAL_NAMESPACES = ("default", "kube-system", "ray-system")
# Real Kubernetes refuses to delete these.
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# etcd's default request limit caps every stored object; it also keeps watch lines under the 4 MiB a
# kubernetes_asyncio watch can read as one line.
MAX_OBJECT_BYTES = 1536 * 1024


# ------------------------------------------------------------------------------------------------ validation

_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*"
_QUALIFIED_NAME_PART = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = rf"({_QUALIFIED_NAME_PART})?"
_EG_NAMES = "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is"

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    f"and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    f"'{_DNS1123_LABEL}')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    f"'{_DNS1123_SUBDOMAIN}')"
)
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    f"alphanumeric character {_EG_NAMES} '{_QUALIFIED_NAME_PART}')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    f"for validation is '{_LABEL_VALUE}')"
)
_MAX_ANNOTATIONS_BYTES = 256 * 1024


def _dns_label_errors(value: str) -> list[str]:
    errors = [] if len(value) <= 63 else ["must be no more than 63 characters"]
    return errors if re.fullmatch(_DNS1123_LABEL, value) else [*errors, _LABEL_MSG]


def _dns_subdomain_errors(value: str) -> list[str]:
    errors = [] if len(value) <= 253 else ["must be no more than 253 characters"]
    return errors if re.fullmatch(_DNS1123_SUBDOMAIN, value) else [*errors, _SUBDOMAIN_MSG]


def _qualified_name_errors(value: str) -> list[str]:
    """Label and annotation keys: an optional DNS subdomain prefix, '/', and a name part."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or "/" in prefix):
        return ["a qualified name must have at most one '/' with a non-empty DNS subdomain prefix before it"]
    errors = [f"prefix part {m}" for m in _dns_subdomain_errors(prefix)] if slash else []
    if not name:
        return [*errors, "name part must be non-empty"]
    if len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not re.fullmatch(_QUALIFIED_NAME_PART, name):
        errors.append(_NAME_PART_MSG)
    return errors


def _label_value_errors(value: str) -> list[str]:
    errors = [] if len(value) <= 63 else ["must be no more than 63 characters"]
    return errors if re.fullmatch(_LABEL_VALUE, value) else [*errors, _LABEL_VALUE_MSG]


def _invalid(field: str, value: object, detail: str) -> FieldError:
    return FieldError(field, "FieldValueInvalid", f"Invalid value: {json.dumps(value)}: {detail}")


def validate_metadata(rtype: ResourceType, meta: JsonObj) -> list[FieldError]:
    """The ObjectMeta checks of real Kubernetes that callers of this service can trip over."""
    errors: list[FieldError] = []
    name = meta.get("name") or ""
    if not name:
        detail = "Required value: name or generateName is required"
        errors.append(FieldError("metadata.name", "FieldValueRequired", detail))
    else:
        check = _dns_label_errors if rtype is NAMESPACES else _dns_subdomain_errors
        errors.extend(_invalid("metadata.name", name, msg) for msg in check(name))
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        return [*errors, _invalid("metadata.labels", labels, "labels must be a map of strings")]
    for key, value in labels.items():
        errors.extend(_invalid("metadata.labels", key, msg) for msg in _qualified_name_errors(key))
        errors.extend(_invalid("metadata.labels", value, msg) for msg in _label_value_errors(value))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        detail = "annotations must be a map of strings"
        return [*errors, _invalid("metadata.annotations", annotations, detail)]
    for key in annotations:
        errors.extend(_invalid("metadata.annotations", key, msg) for msg in _qualified_name_errors(key))
    if sum(len(k) + len(v) for k, v in annotations.items()) > _MAX_ANNOTATIONS_BYTES:
        detail = f"Too long: must have at most {_MAX_ANNOTATIONS_BYTES} bytes"
        errors.append(FieldError("metadata.annotations", "FieldValueTooLong", detail))
    finalizers = meta.get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        errors.append(_invalid("metadata.finalizers", finalizers, "finalizers must be a list of strings"))
    return errors


# ------------------------------------------------------------------------------------------------- selectors


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", ">", "<"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value in self.values
        if self.op in ("!=", "notin"):
            return value not in self.values
        # ">" / "<": both sides must be integers, as in apimachinery.
        if value is None or not re.fullmatch(r"-?\d+", value):
            return False
        return int(value) > int(self.values[0]) if self.op == ">" else int(value) < int(self.values[0])


_LABEL_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"(?P<key>{_LABEL_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)")
_CMP_RE = re.compile(rf"(?P<key>{_LABEL_KEY})\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[-A-Za-z0-9_.]*)")
_EXISTS_RE = re.compile(rf"(?P<neg>!?)\s*(?P<key>{_LABEL_KEY})")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `in (...)` value sets."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return [t.strip() for t in terms]


def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    """Parse a labelSelector query parameter; an empty one selects everything."""
    if not text or not text.strip():
        return ()
    requirements = []
    for term in _split_top_level(text):
        if m := _SET_RE.fullmatch(term):
            values = tuple(v.strip() for v in m["values"].split(","))
            requirements.append(Requirement(m["key"], m["op"], values))
        elif m := _CMP_RE.fullmatch(term):
            op = "=" if m["op"] == "==" else m["op"]
            if op in (">", "<") and not re.fullmatch(r"-?\d+", m["value"]):
                raise ApiError.bad_request(f"unable to parse requirement: {term!r}: value must be an integer")
            requirements.append(Requirement(m["key"], op, (m["value"],)))
        elif m := _EXISTS_RE.fullmatch(term):
            requirements.append(Requirement(m["key"], "!" if m["neg"] else "exists"))
        else:
            raise ApiError.bad_request(f"unable to parse requirement: found {term!r}")
    return tuple(requirements)


@dataclass(frozen=True)
class FieldRequirement:
    """One clause of a field selector: a dotted path compared with == or !=."""

    path: str
    equal: bool
    value: str

    def matches(self, obj: JsonObj) -> bool:
        current: Any = obj
        for part in self.path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        actual = "" if current is None else str(current)
        return (actual == self.value) == self.equal


def parse_field_selector(rtype: ResourceType, text: str | None) -> tuple[FieldRequirement, ...]:
    """Parse a fieldSelector; like real Kubernetes, only the fields the type supports are allowed."""
    if not text or not text.strip():
        return ()
    requirements = []
    for term in text.split(","):
        m = re.fullmatch(r"\s*(?P<field>[^!=\s]+)\s*(?P<op>==|=|!=)(?P<value>.*)", term)
        if m is None:
            raise ApiError.bad_request(f"invalid selector: {text!r}; can't understand {term!r}")
        path = rtype.field_path(m["field"])
        if path is None:
            raise ApiError.bad_request(f'field label not supported: {m["field"]}')
        requirements.append(FieldRequirement(path, m["op"] != "!=", m["value"].strip()))
    return tuple(requirements)


@dataclass(frozen=True)
class Selector:
    """Label and field selectors together, matched against an object as its API version shows it."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[FieldRequirement, ...] = ()

    @classmethod
    def parse(cls, rtype: ResourceType, label_selector: str | None, field_selector: str | None) -> Selector:
        return cls(parse_label_selector(label_selector), parse_field_selector(rtype, field_selector))

    @property
    def empty(self) -> bool:
        return not self.labels and not self.fields

    def matches(self, view: JsonObj) -> bool:
        labels = view.get("metadata", {}).get("labels") or {}
        return all(r.matches(labels) for r in self.labels) and all(f.matches(view) for f in self.fields)


# --------------------------------------------------------------------------------------------------- patches


class PatchError(Exception):
    """A JSON patch that does not apply to the object (422 in real Kubernetes)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]


def _index(container: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not re.fullmatch(r"0|[1-9]\d*", token) or int(token) > len(container) - (0 if allow_end else 1):
        raise PatchError(f"index out of range: {token}")
    return int(token)


def _parent(doc: Any, tokens: list[str]) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, allow_end=False)]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
    return current


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False)]
    raise PatchError(f"doc is missing key: /{'/'.join(tokens)}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    _get(doc, tokens)  # raises when the target is missing
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[_index(parent, last, allow_end=False)]
    return doc


def json_patch(doc: Any, operations: list[Any]) -> Any:
    """RFC 6902 JSON patch; raises PatchError when an operation does not apply."""
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError(f"invalid operation: {op!r}")
        path = _pointer(op.get("path"))
        kind = op["op"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} operation has no value")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc = _add(_remove(doc, path), path, copy.deepcopy(op["value"])) if path else op["value"]
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = copy.deepcopy(_get(doc, source))
            if kind == "move":
                doc = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "test":
            if not _json_equal(_get(doc, path), op["value"]):
                raise PatchError(f"testing value {op.get('path')} failed")
        else:
            raise PatchError(f"unexpected operation: {kind!r}")
    return doc


# --------------------------------------------------------------------------------------------------- helpers


def now_rfc3339() -> str:
    """Kubernetes timestamps: UTC, whole seconds, 'Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_key(namespace: str | None, name: str) -> str:
    """The etcd-style key whose byte order is the order of list results."""
    return f"{namespace}/{name}" if namespace else name


def encode_continue(list_rv: int, last_key: str) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": list_rv, "start": last_key + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """The list resourceVersion and the first key to return."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(data.get("start"), str):
            raise ValueError("unknown continue token version")
        return int(data["rv"]), data["start"]
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
        raise ApiError.bad_request(f"continue key is not valid: {exc}") from exc


def _spec_part(obj: JsonObj) -> JsonObj:
    """Everything whose change bumps metadata.generation of a custom resource."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_rv(obj: JsonObj) -> JsonObj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


def _generate_suffix() -> str:
    # apimachinery's alphabet: no vowels (no accidental words) and no look-alike characters.
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(secrets.choice(alphabet) for _ in range(5))


# ----------------------------------------------------------------------------------------------------- watch


@dataclass(frozen=True)
class Change:
    """One committed write, as kept in the watch history (stored shapes, never mutated)."""

    rv: int
    type: str
    storage: str
    key: str
    old: JsonObj | None
    new: JsonObj


class Watcher:
    """One open watch: the events waiting to be sent, filled by the store as writes commit."""

    def __init__(self, store: Store, rtype: ResourceType, namespace: str | None, selector: Selector,
                 max_pending: int) -> None:
        self._store = store
        self.rtype = rtype
        self.namespace = namespace
        self.selector = selector
        self._max_pending = max_pending
        self._pending: deque[JsonObj] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False

    def push(self, event: JsonObj) -> None:
        self._pending.append(event)
        self._wakeup.set()

    def offer(self, change: Change) -> None:
        """Queue the event this change means for this watch, if any."""
        if self._closed:
            return
        event = self.event_for(change)
        if event is None:
            return
        if len(self._pending) >= self._max_pending:
            # A consumer this far behind is cut off, as real Kubernetes does; it resumes from its last
            # resourceVersion out of the history.
            self.close()
            return
        self.push(event)

    def event_for(self, change: Change) -> JsonObj | None:
        """Selectors turn a MODIFIED into ADDED/DELETED when the object enters/leaves the selection."""
        if change.storage != self.rtype.storage_key:
            return None
        if self.namespace is not None and not change.key.startswith(self.namespace + "/"):
            return None
        new = self._store.present(self.rtype, change.new)
        if self.selector.empty:
            return {"type": change.type, "object": new}
        if change.type == DELETED:
            return {"type": DELETED, "object": new} if self.selector.matches(new) else None
        was = change.old is not None and self.selector.matches(self._store.present(self.rtype, change.old))
        now = self.selector.matches(new)
        if was and now:
            return {"type": MODIFIED, "object": new}
        if now:
            return {"type": ADDED, "object": new}
        if was:
            return {"type": DELETED, "object": new}
        return None

    async def next(self) -> JsonObj | None:
        """The next event, or None once the watch is closed and drained."""
        while not self._pending:
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.popleft()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        self._store.forget_watcher(self)


# ----------------------------------------------------------------------------------------------------- store


@dataclass(frozen=True)
class DeleteResult:
    """What DELETE returns: the object as last seen, and whether it is gone (False: finalizers pending)."""

    object: JsonObj
    removed: bool


class Store:
    """All objects of one dev cluster, their resourceVersion counter and the watch machinery."""

    def __init__(self, history_size: int = 1000, watch_queue_size: int = 5000) -> None:
        self._rv = 0
        self._objects: dict[str, dict[str, JsonObj]] = {}
        self._history: deque[Change] = deque(maxlen=history_size)
        self._compacted_rv = 0  # events at or before this resourceVersion have left the history
        self._watchers: set[Watcher] = set()
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

    def list(self, rtype: ResourceType, namespace: str | None, selector: Selector, limit: int | None = None,
             continue_token: str | None = None) -> JsonObj:
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
        return {"apiVersion": rtype.api_version, "kind": f"{rtype.kind}List", "metadata": meta,
                "items": [view for _, view in page]}

    # ---- writing

    def _commit(self, change_type: str, rtype: ResourceType, key: str, old: JsonObj | None,
                new: JsonObj) -> JsonObj:
        """Store (or drop) `new` under the next resourceVersion and tell the watchers."""
        if change_type != DELETED and len(json.dumps(new)) > MAX_OBJECT_BYTES:
            raise ApiError(413, "RequestEntityTooLarge", "etcdserver: request is too large")
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        bucket = self._bucket(rtype)
        if change_type == DELETED:
            bucket.pop(key, None)
        else:
            bucket[key] = new
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = self._history[0].rv
        change = Change(self._rv, change_type, rtype.storage_key, key, old, new)
        self._history.append(change)
        for watcher in list(self._watchers):
            watcher.offer(change)
        return new

    def _check_body(self, rtype: ResourceType, body: Any, namespace: str | None) -> JsonObj:
        """Decode-time checks: a JSON object of the right kind, in the namespace of the URL."""
        if not isinstance(body, dict):
            raise ApiError.bad_request("the body of the request must be a JSON object")
        if rtype.custom:
            # CRDs are decoded as unstructured objects, which must name their kind and version.
            raw = json.dumps(body)
            if not body.get("kind"):
                raise ApiError.bad_request(f"Object 'Kind' is missing in '{raw}'")
            if not body.get("apiVersion"):
                raise ApiError.bad_request(f"Object 'apiVersion' is missing in '{raw}'")
        if body.get("apiVersion", rtype.api_version) != rtype.api_version or body.get("kind", rtype.kind) \
                != rtype.kind:
            raise ApiError.bad_request(
                f"the object provided is unrecognized (must be of type {rtype.kind}): "
                f"{body.get('apiVersion')}, Kind={body.get('kind')}"
            )
        meta = body.get("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.bad_request("metadata must be a JSON object")
        obj = copy.deepcopy(body)
        obj["metadata"] = meta = copy.deepcopy(meta)
        if rtype.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
        return obj

    def create(self, rtype: ResourceType, namespace: str | None, body: Any) -> JsonObj:
        obj = self._check_body(rtype, body, namespace)
        meta = obj["metadata"]
        if rtype.namespaced and not self.namespace_exists(namespace or ""):
            raise ApiError.not_found(NAMESPACES, namespace or "")
        if meta.get("resourceVersion"):
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{_generate_suffix()}"
        errors = validate_metadata(rtype, meta)
        if errors:
            raise invalid(rtype, meta.get("name") or "", errors)
        key = object_key(namespace if rtype.namespaced else None, meta["name"])
        if key in self._bucket(rtype):
            raise ApiError(409, "AlreadyExists", f'{rtype.resource} "{meta["name"]}" already exists',
                           rtype.details(meta["name"]))
        for server_owned in ("deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            meta.pop(server_owned, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rtype.custom:
            meta["generation"] = 1
        if rtype.status_subresource:
            obj.pop("status", None)  # status is written only through /status
        if rtype is NAMESPACES:
            meta["labels"] = {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": meta["name"]}
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        stored = rtype.to_storage(obj) if rtype.to_storage else obj
        return self.present(rtype, self._commit(ADDED, rtype, key, None, stored))

    def replace(self, rtype: ResourceType, namespace: str | None, name: str, body: Any,
                subresource: str | None = None) -> JsonObj:
        """PUT: a stale metadata.resourceVersion conflicts; none at all makes the update unconditional."""
        stored = self._stored(rtype, namespace, name)
        new = self._check_body(rtype, body, namespace)
        return self._update(rtype, namespace, name, stored, new, subresource)

    def patch(self, rtype: ResourceType, namespace: str | None, name: str, patch_type: str, patch: Any,
              subresource: str | None = None) -> JsonObj:
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
        new = self._check_body(rtype, patched, namespace)
        return self._update(rtype, namespace, name, stored, new, subresource)

    def _update(self, rtype: ResourceType, namespace: str | None, name: str, stored: JsonObj, new: JsonObj,
                subresource: str | None) -> JsonObj:
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
            for server_owned in ("uid", "creationTimestamp", "deletionTimestamp",
                                 "deletionGracePeriodSeconds", "generation", "resourceVersion"):
                if server_owned in old_meta:
                    meta[server_owned] = old_meta[server_owned]
                else:
                    meta.pop(server_owned, None)
            errors = validate_metadata(rtype, meta)
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if old_meta.get("deletionTimestamp") and added:
                detail = f"Forbidden: no new finalizers can be added if the object is being deleted, " \
                         f"found new finalizers {sorted(added)}"
                errors.append(FieldError("metadata.finalizers", "FieldValueForbidden", detail))
            if errors:
                raise invalid(rtype, name, errors)
            if rtype.custom and not _json_equal(_spec_part(result), _spec_part(old)):
                meta["generation"] = old_meta.get("generation", 0) + 1
        new_stored = rtype.to_storage(result) if rtype.to_storage else result
        if _json_equal(_without_rv(new_stored), _without_rv(stored)):
            return self.present(rtype, stored)  # a no-op write keeps its resourceVersion and sends no event
        key = object_key(namespace if rtype.namespaced else None, name)
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            # The last finalizer is gone: the pending deletion completes.
            return self.present(rtype, self._commit(DELETED, rtype, key, stored, new_stored))
        return self.present(rtype, self._commit(MODIFIED, rtype, key, stored, new_stored))

    def delete(self, rtype: ResourceType, namespace: str | None, name: str,
               preconditions: JsonObj | None = None) -> DeleteResult:
        """Remove the object, or with finalizers only mark it with deletionTimestamp."""
        stored = self._stored(rtype, namespace, name)
        meta = stored["metadata"]
        for field in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(field)
            if wanted and wanted != meta.get(field):
                label = "UID" if field == "uid" else "ResourceVersion"
                raise ApiError(409, "Conflict", f"Precondition failed: {label} in precondition: {wanted}, "
                                                f"{label} in object meta: {meta.get(field)}",
                               rtype.details(name))
        key = object_key(namespace if rtype.namespaced else None, name)
        if rtype is NAMESPACES:
            return self._delete_namespace(name, stored)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return DeleteResult(self.present(rtype, stored), removed=False)
            marked = copy.deepcopy(stored)
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            if "generation" in meta:
                marked["metadata"]["generation"] = meta["generation"] + 1
            marked = self._commit(MODIFIED, rtype, key, stored, marked)
            return DeleteResult(self.present(rtype, marked), removed=False)
        gone = self._commit(DELETED, rtype, key, stored, copy.deepcopy(stored))
        return DeleteResult(self.present(rtype, gone), removed=True)

    def _delete_namespace(self, name: str, stored: JsonObj) -> DeleteResult:
        """Drop the namespace and, at once, everything in it (finalizers included)."""
        if name in PROTECTED_NAMESPACES:
            message = f'namespaces "{name}" is forbidden: this namespace may not be deleted'
            raise ApiError(403, "Forbidden", message, NAMESPACES.details(name))
        for rtype in self._storage_types():
            bucket = self._bucket(rtype)
            for key in self._keys(rtype, name):
                self._commit(DELETED, rtype, key, bucket[key], copy.deepcopy(bucket[key]))
        gone = self._commit(DELETED, NAMESPACES, name, stored, copy.deepcopy(stored))
        view = self.present(NAMESPACES, gone)
        # The response shows the namespace as real Kubernetes does while it empties it.
        view["metadata"]["deletionTimestamp"] = now_rfc3339()
        view["status"] = {"phase": "Terminating"}
        return DeleteResult(view, removed=True)

    @staticmethod
    def _storage_types() -> Iterable[ResourceType]:
        """One namespaced type per storage."""
        seen: dict[str, ResourceType] = {}
        for rtype in RESOURCE_TYPES:
            if rtype.namespaced:
                seen.setdefault(rtype.storage_key, rtype)
        return seen.values()

    # ---- watching

    def watch(self, rtype: ResourceType, namespace: str | None, selector: Selector,
              resource_version: str | None) -> Watcher:
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
            if since < self._compacted_rv:
                message = f"too old resource version: {since} ({self._compacted_rv})"
                expired = ApiError(410, "Expired", message)
                watcher.push({"type": "ERROR", "object": expired.status()})
                watcher.close()
                return watcher
            for change in self._history:
                if change.rv > since and (event := watcher.event_for(change)) is not None:
                    watcher.push(event)
        self._watchers.add(watcher)
        return watcher

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def forget_watcher(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        """End every open watch (the server is stopping)."""
        for watcher in list(self._watchers):
            watcher.close()
