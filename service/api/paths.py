"""Route paths and options: every API route is served under the current prefix and the seed's older one, named
after the upstream RPC it implements, with its error answers documented."""

from __future__ import annotations

from typing import Annotated, Any

from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from service import names
from service.schemas.base import ApiStruct
from service.vocabulary import Action, Resource

PREFIXES = ("/apis/v1", "/apis/v1alpha2")
LEGACY_PREFIX = "/apis/v1alpha2"


class ErrorBody(ApiStruct):
    """Every error: a gRPC status code and a message (upstream's ``google.rpc.Status`` without details)."""

    code: int
    message: str


def _error(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


# What any route may answer besides its success: bad input, no identity, no permission, a failed precondition
# (a missing compute template), not found, conflicts, timeouts, and a dependency that is down.
ERROR_RESPONSES: dict[int, ResponseSpec] = {
    400: _error("Invalid input (code 3) or a failed precondition (code 9)"),
    401: _error("No valid credentials (code 16)"),
    403: _error("Not allowed (code 7), or a cross-site request"),
    404: _error("Not found (code 5)"),
    405: _error("Method not allowed (code 12)"),
    409: _error("Already exists (code 6) or changed concurrently (code 10)"),
    413: _error("Request body too large (code 8)"),
    500: _error("Internal error (code 13)"),
    503: _error("The database, the Kubernetes API or a cluster's Ray dashboard is unavailable (code 14)"),
    504: _error("Deadline exceeded (code 4); a change may still have happened"),
}


def paths(suffix: str) -> list[str]:
    return [prefix + suffix for prefix in PREFIXES]


def rpc(name: str, change: tuple[Resource, Action] | None = None) -> dict[str, Any]:
    """Route options naming the upstream RPC a handler implements (and, for a change, what it changes).

    The OpenAPI operation of the ``/apis/v1`` path is named after the RPC (``CreateCluster``); the alias path gets
    a suffix, since operation ids must be unique. Metrics and logs read the plain name from ``opt["rpc"]``; the
    authentication middleware audits refused changes from ``opt["change"]``.
    """

    def operation_id(_handler: Any, _method: Any, components: list[Any]) -> str:
        return f"{name}V1alpha2" if "v1alpha2" in components else name

    return {
        "operation_id": operation_id,
        "opt": {"rpc": name, "change": change},
        "responses": ERROR_RESPONSES,
    }


def is_legacy(path: str) -> bool:
    """Whether a request came in on the seed's ``/apis/v1alpha2`` prefix."""
    return path.startswith(LEGACY_PREFIX + "/")


def ends_with_slash(scope: Any) -> bool:
    """Whether the request path ended in ``/``: upstream reads ``/clusters/`` as the named route with an empty name.

    (Litestar routes ``/clusters/`` like ``/clusters``; only the raw path still shows the slash.)
    """
    raw: bytes = scope.get("raw_path") or b""
    return raw.split(b"?", 1)[0].endswith(b"/")


# Path parameters, documented with the rules the managers enforce (Kubernetes' own), so clients and fuzzers know
# them; the managers still check every value, with upstream's error shape.
Namespace = Annotated[
    str,
    Parameter(
        description="A namespace (DNS-1123 label).",
        schema_extra={"pattern": names.LABEL_PATTERN, "maxLength": names.LABEL_MAX},
    ),
]
RayName = Annotated[
    str,
    Parameter(
        description="The resource's name (DNS-1123 label).",
        schema_extra={"pattern": names.LABEL_PATTERN, "maxLength": names.LABEL_MAX},
    ),
]
TemplateName = Annotated[
    str,
    Parameter(
        description="The template's name (DNS-1123 subdomain).",
        schema_extra={"pattern": names.SUBDOMAIN_PATTERN, "maxLength": names.SUBDOMAIN_MAX},
    ),
]
