"""Label and field selectors: parsing the query parameters and matching objects against them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from service.devcluster.errors import ApiError
from service.devcluster.resources import JsonObj, ResourceType


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
            raise ApiError.bad_request(f"field label not supported: {m['field']}")
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
