"""Object checks (names, labels, annotations, finalizers, request bodies) and their Kubernetes-style errors."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from service.devcluster.errors import ApiError
from service.devcluster.resources import NAMESPACES, JsonObj, ResourceType


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


def check_body(rtype: ResourceType, body: Any, namespace: str | None) -> JsonObj:
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
    if (
        body.get("apiVersion", rtype.api_version) != rtype.api_version
        or body.get("kind", rtype.kind) != rtype.kind
    ):
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
