"""Route paths: every API route is served under the current prefix and the seed's older one."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar.openapi.spec import OpenAPIMediaType, Operation, Reference, RequestBody

PREFIXES = ("/apis/v1", "/apis/v1alpha2")


def paths(suffix: str) -> list[str]:
    return [prefix + suffix for prefix in PREFIXES]


def rpc(name: str) -> dict[str, Any]:
    """Route options naming the upstream RPC a handler implements.

    The OpenAPI operation of the ``/apis/v1`` path is named after the RPC (``CreateCluster``); the alias path gets
    a suffix, since operation ids must be unique. Metrics and logs read the plain name from ``opt["rpc"]``.
    """

    def operation_id(_handler: Any, _method: Any, components: list[Any]) -> str:
        return f"{name}V1alpha2" if "v1alpha2" in components else name

    return {"operation_id": operation_id, "opt": {"rpc": name}}


def body_of(schema_name: str) -> type[Operation]:
    """An OpenAPI operation class documenting a JSON request body of the named component.

    Handlers read the raw body themselves (to accept both field casings, as upstream does), so Litestar cannot
    infer the body; the component exists because the same message is a response type.
    """

    @dataclasses.dataclass
    class BodyOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={
                    "application/json": OpenAPIMediaType(
                        schema=Reference(f"#/components/schemas/{schema_name}")
                    )
                },
                required=True,
                description=f"A {schema_name}; camelCase or snake_case field names, enum names or numbers.",
            )

    return BodyOperation
