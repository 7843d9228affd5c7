"""Wire encoding shared by every API message.

Messages are msgspec Structs whose attribute names are the proto field names in snake_case. Output uses the proto
JSON names (lowerCamelCase) and omits zero values, as upstream's grpc-gateway marshaler does. Input accepts the
JSON name, the proto name and the snake_case attribute name of every field (protojson accepts the first two), enum
names or numbers, numbers as strings, ``null`` as "unset", and ignores unknown fields.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec

from service.errors import InvalidInputError

T = TypeVar("T")


class ApiStruct(msgspec.Struct, rename="camel", omit_defaults=True, kw_only=True):
    """Base of every API message.

    ``__proto_names__`` lists proto field names that are not the snake_case attribute name (for example
    ``serve_config_V2``), so that clients sending proto names are understood.
    """

    __proto_names__: typing.ClassVar[dict[str, str]] = {}


def reset_zero_floats(message: msgspec.Struct) -> None:
    """Make float fields equal to 0 the default object itself.

    msgspec's ``omit_defaults`` recognises a float default by identity, so a decoded ``0`` would otherwise be
    printed as ``0.0`` where protojson omits it. Call it from ``__post_init__`` of structs with float fields.
    """
    names = message.__struct_fields__
    defaults = message.__struct_defaults__
    offset = len(names) - len(defaults)
    for index, default in enumerate(defaults):
        name = names[offset + index]
        value = getattr(message, name)
        if isinstance(value, float) and value == 0 and isinstance(default, float):
            setattr(message, name, default)


class DecodeError(InvalidInputError):
    """The body or a parameter does not fit the message type."""


_encoder = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    """Encode an API message (or a plain container of them) as JSON."""
    return _encoder.encode(value)


def to_builtins(value: Any) -> Any:
    """The JSON-ready builtins form of an API message (camelCase keys, zero values omitted)."""
    return msgspec.to_builtins(value)


def decode(raw: bytes | str, message_type: type[T]) -> T:
    """Decode a JSON body into ``message_type`` with protojson's leniency.

    An empty body decodes as ``{}``; malformed JSON or a value of the wrong type is a ``DecodeError`` whose message
    names the offending field.
    """
    if isinstance(raw, str):
        raw = raw.encode()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"invalid JSON body: {exc}") from None
        except RecursionError:
            raise DecodeError("invalid JSON body: nested too deeply") from None
    return convert(data, message_type)


def convert(data: Any, message_type: type[T], path: str = "$") -> T:
    """Convert already-parsed JSON data into ``message_type`` (see ``decode``)."""
    normalized = _normalize(data, message_type, path)
    try:
        return msgspec.convert(normalized, message_type, strict=False)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"invalid value: {exc}") from None


class _FieldMap(typing.NamedTuple):
    by_key: dict[str, str]  # accepted spelling -> encode (JSON) name
    types: dict[str, Any]  # encode name -> type annotation


@functools.cache
def _field_map(struct_type: type[msgspec.Struct]) -> _FieldMap:
    hints = typing.get_type_hints(struct_type)
    proto_names: dict[str, str] = getattr(struct_type, "__proto_names__", {})
    by_key: dict[str, str] = {}
    field_types: dict[str, Any] = {}
    for info in msgspec.structs.fields(struct_type):
        field_types[info.encode_name] = hints[info.name]
        for spelling in (info.encode_name, info.name, proto_names.get(info.name, info.name)):
            by_key[spelling] = info.encode_name
    return _FieldMap(by_key, field_types)


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _normalize(value: Any, annotation: Any, path: str) -> Any:
    """Rewrite parsed JSON so that msgspec can convert it strictly by JSON names."""
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        if value is None:
            return None
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _normalize(value, members[0], path) if len(members) == 1 else value
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        if not isinstance(value, dict):
            raise DecodeError(f"invalid value for {path}: expected an object, got {_type_name(value)}")
        fields = _field_map(annotation)
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = fields.by_key.get(key)
            if name is None or item is None:
                continue  # unknown fields are ignored, null means unset
            if name in out:
                raise DecodeError(f"duplicate field {name!r} at {path} (given in two spellings)")
            out[name] = _normalize(item, fields.types[name], f"{path}.{name}")
        return out
    if origin is list:
        if not isinstance(value, list):
            raise DecodeError(f"invalid value for {path}: expected an array, got {_type_name(value)}")
        (item_type,) = get_args(annotation)
        return [
            _normalize(item, item_type, f"{path}[{i}]") for i, item in enumerate(value) if item is not None
        ]
    if origin is dict:
        if not isinstance(value, dict):
            raise DecodeError(f"invalid value for {path}: expected an object, got {_type_name(value)}")
        _, value_type = get_args(annotation)
        return {k: _normalize(v, value_type, f"{path}[{k!r}]") for k, v in value.items() if v is not None}
    if isinstance(annotation, type) and issubclass(annotation, enum.IntEnum):
        return _enum_value(value, annotation, path)
    if origin is typing.Annotated:
        return _normalize(value, get_args(annotation)[0], path)
    return value


def _enum_value(value: Any, enum_type: type[enum.IntEnum], path: str) -> int:
    if isinstance(value, bool):
        raise DecodeError(f"invalid value for enum {enum_type.__name__} at {path}: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value in enum_type.__members__:
            return int(enum_type[value])
        if value.lstrip("-").isdigit():
            return int(value)
    names = ", ".join(enum_type.__members__)
    raise DecodeError(
        f"invalid value for enum {enum_type.__name__} at {path}: {value!r} (expected one of {names})"
    )


def format_time(value: Any) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and whole seconds, as protojson prints server timestamps."""
    import datetime as dt

    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"not a timestamp: {value!r}")
