"""Query parameters parsed as grpc-gateway parses them, with its error texts.

A parameter is found by its proto name or its JSON name; a value that does not parse is a 400 whose message reads
``parsing field "<name>": <reason>``; a repeated scalar is ``too many values for field "<name>": a, b``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request
from litestar.params import Parameter

from service.errors import InvalidInputError

_INT64 = (-(2**63), 2**63 - 1)
_INT32 = (-(2**31), 2**31 - 1)


def _raw(request: Request[Any, Any, Any], proto_name: str, json_name: str) -> str | None:
    values = request.query_params.getall(proto_name, []) + (
        request.query_params.getall(json_name, []) if json_name != proto_name else []
    )
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInputError(f'too many values for field "{proto_name}": {", ".join(values)}')
    return str(values[0])


def int_param(request: Request[Any, Any, Any], proto_name: str, json_name: str, bits: int = 64) -> int:
    raw = _raw(request, proto_name, json_name)
    if raw is None or raw == "":
        return 0
    low, high = _INT64 if bits == 64 else _INT32
    try:
        value = int(raw, 10)
    except ValueError:
        raise InvalidInputError(
            f'parsing field "{proto_name}": strconv.ParseInt: parsing "{raw}": invalid syntax'
        ) from None
    if not low <= value <= high:
        raise InvalidInputError(
            f'parsing field "{proto_name}": strconv.ParseInt: parsing "{raw}": value out of range'
        )
    return value


def str_param(request: Request[Any, Any, Any], proto_name: str, json_name: str) -> str:
    return _raw(request, proto_name, json_name) or ""


def bool_param(request: Request[Any, Any, Any], proto_name: str, json_name: str) -> bool:
    raw = _raw(request, proto_name, json_name)
    if raw is None or raw == "":
        return False
    lowered = raw.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise InvalidInputError(
        f'parsing field "{proto_name}": strconv.ParseBool: parsing "{raw}": invalid syntax'
    )


def include_deleted(request: Request[Any, Any, Any]) -> bool:
    """The history extension: also list resources deleted through the API."""
    return bool_param(request, "include_deleted", "includeDeleted")


def extensions(request: Request[Any, Any, Any]) -> bool:
    """The switch for fields upstream's messages lack (a compute template's ``createdAt``, ``deletedAt``, ``user``).

    Off by default, so upstream's own clients (which decode strictly) accept every answer.
    """
    return bool_param(request, "extensions", "extensions")


# Documented query parameters. Handlers declare them so the OpenAPI document lists them; the values are read
# back from the request by the functions above, which also accept the proto spelling and refuse repeats.
Limit = Annotated[str | None, Parameter(query="limit", required=False, description="Page size (0: all).")]
Continue = Annotated[
    str | None,
    Parameter(query="continue", required=False, description="The `continue` of the previous page."),
]
PageSize = Annotated[
    str | None, Parameter(query="pageSize", required=False, description="Page size (also `page_size`).")
]
PageToken = Annotated[
    str | None,
    Parameter(
        query="pageToken",
        required=False,
        description="The previous page's `nextPageToken` (also `page_token`).",
    ),
]
IncludeDeleted = Annotated[
    str | None,
    Parameter(
        query="includeDeleted",
        required=False,
        description="Also list resources deleted through the API, from the history (also `include_deleted`).",
    ),
]
Extensions = Annotated[
    str | None,
    Parameter(
        query="extensions",
        required=False,
        description="Include fields upstream's messages lack (`createdAt`, `deletedAt`, `user` of templates).",
    ),
]
