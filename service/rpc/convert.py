"""Protobuf messages <-> the service's msgspec wire structs.

Both sides share one JSON mapping (protojson's: lowerCamelCase names, enums as numbers, timestamps as
RFC 3339 strings), so conversion goes through it instead of copying fields by hand: a field added to a struct
and to the .proto needs no code here. Fields that only one side has are dropped on the way: the audit
extensions of ``ComputeTemplate`` (``createdAt``, ``deletedAt``, ``user``) and the input-only legacy
``serveDeploymentGraphSpec`` of ``RayService`` have no proto field, so gRPC clients never see them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from service.schemas.base import convert, to_builtins

S = TypeVar("S")
M = TypeVar("M", bound=Message)


def to_struct(message: Message, struct_type: type[S]) -> S:
    """The msgspec struct for a protobuf message (e.g. the ``cluster`` of a ``CreateClusterRequest``).

    Unset fields are absent from the dict, so the struct gets its defaults (as for an HTTP body without them).
    """
    data = json_format.MessageToDict(message, preserving_proto_field_name=False, use_integers_for_enums=True)
    return convert(data, struct_type)


def to_message(struct: Any, message_type: type[M]) -> M:
    """The protobuf message for a msgspec struct (a response), ignoring fields the .proto does not declare."""
    message = message_type()
    json_format.ParseDict(to_builtins(struct), message, ignore_unknown_fields=True)
    return message
