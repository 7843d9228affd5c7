"""Kubernetes object names, checked as the API server checks them, before they reach a URL or a record.

A leaf module: the managers check every name and namespace from a path, a body or a gRPC field with it, and the
Kubernetes client checks every path segment again, so no value can change the path of a Kubernetes call.
"""

from __future__ import annotations

import re

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(_LABEL)
_SUBDOMAIN_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*")
# The same rules as anchored JSON Schema patterns, for the OpenAPI document.
LABEL_PATTERN = f"^{_LABEL}$"
SUBDOMAIN_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"


def label_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label (namespaces, Ray resources), or None when it is one."""
    if len(value) > LABEL_MAX:
        return f"must be no more than {LABEL_MAX} characters"
    if not _LABEL_RE.fullmatch(value):
        return (
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc')"
        )
    return None


def subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 subdomain (ConfigMaps, most objects), or None when it is one."""
    if len(value) > SUBDOMAIN_MAX:
        return f"must be no more than {SUBDOMAIN_MAX} characters"
    if not _SUBDOMAIN_RE.fullmatch(value):
        return (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character (e.g. 'example.com')"
        )
    return None


def is_safe_segment(value: str) -> bool:
    """Whether ``value`` can be one URL path segment without changing the path around it."""
    return bool(value) and value not in (".", "..") and "/" not in value and "\x00" not in value


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for an error message, shortened and with control characters escaped."""
    text = value if len(value) <= limit else value[:limit] + "..."
    return repr(text)
