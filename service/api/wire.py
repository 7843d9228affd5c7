"""Request bodies decoded the way upstream's gateway decodes them, by a DTO that Litestar calls.

Handlers take ``data: Cluster`` (so Litestar documents the body in OpenAPI from the type); this DTO decodes it
with ``service.schemas.base.decode``: camelCase, snake_case and proto names, enum names or numbers, unknown
fields ignored, an empty body as ``{}``. Responses are encoded by Litestar's msgspec encoder as usual.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar

from litestar.dto import AbstractDTO, DTOConfig, DTOFieldDefinition
from litestar.openapi.spec import Reference, Schema
from litestar.typing import FieldDefinition

from service.schemas.base import convert, decode

T = TypeVar("T")


class WireDTO(AbstractDTO[T], Generic[T]):
    """Decodes the request body into the message type the DTO is parametrised with."""

    config = DTOConfig()

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        """No transfer model: decoding is ``decode`` itself."""

    def decode_bytes(self, value: bytes) -> Any:
        return decode(value, self.model_type)

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        return convert(value, self.model_type)

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        result: Reference | Schema = schema_creator.for_field_definition(
            FieldDefinition.from_annotation(cls.model_type)
        )
        return result
