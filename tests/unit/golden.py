"""Golden files: request JSON in, expected CR YAML and response JSON out (``UPDATE_GOLDEN=1`` rewrites)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from service.schemas.base import convert
from service.schemas.compute_template import ComputeTemplate

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "golden"


class _Dumper(yaml.SafeDumper):
    """Prints multi-line strings (serve configs, runtime envs) as literal blocks, for readable diffs."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _updating() -> bool:
    if os.environ.get("UPDATE_GOLDEN") != "1":
        return False
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        raise RuntimeError(
            "UPDATE_GOLDEN=1 is refused under CI: golden files are updated by hand and reviewed"
        )
    return True


def read_request(name: str) -> str:
    """The raw JSON text of ``<name>.request.json``."""
    return (GOLDEN_DIR / f"{name}.request.json").read_text()


def read_json(name: str) -> Any:
    return json.loads((GOLDEN_DIR / name).read_text())


def check_yaml(name: str, actual: Any) -> None:
    """Compare ``actual`` with the YAML document ``name`` (or rewrite it when updating)."""
    path = GOLDEN_DIR / name
    if _updating():
        path.write_text(yaml.dump(actual, Dumper=_Dumper, sort_keys=False, width=100))
        return
    expected = yaml.safe_load(path.read_text())
    assert actual == expected, f"{name} differs; rerun with UPDATE_GOLDEN=1 and review the diff"


def check_json(name: str, actual: Any) -> None:
    """Compare ``actual`` with the JSON document ``name`` (or rewrite it when updating)."""
    path = GOLDEN_DIR / name
    if _updating():
        path.write_text(json.dumps(actual, indent=2) + "\n")
        return
    expected = json.loads(path.read_text())
    assert actual == expected, f"{name} differs; rerun with UPDATE_GOLDEN=1 and review the diff"


def load_templates() -> dict[str, ComputeTemplate]:
    """The compute templates the golden requests refer to, by name."""
    return {t["name"]: convert(t, ComputeTemplate) for t in read_json("templates.json")}


def as_created(cr: dict[str, Any], timestamp: str = "2025-01-02T03:04:05Z") -> dict[str, Any]:
    """``cr`` as the API server returns it after create (the fields the converters read back)."""
    return {**cr, "metadata": {**cr["metadata"], "creationTimestamp": timestamp}}
