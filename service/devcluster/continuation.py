"""List continue tokens: the list's resourceVersion and the key a paginated list resumes from."""

from __future__ import annotations

import base64
import binascii
import json

from service.devcluster.errors import ApiError


def encode_continue(list_rv: int, last_key: str) -> str:
    """The token for the page after the one ending at `last_key`, in the shape apimachinery uses."""
    token = {"v": "meta.k8s.io/v1", "rv": list_rv, "start": last_key + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """The list resourceVersion and the first key to return."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data.get("v") != "meta.k8s.io/v1" or not isinstance(data.get("start"), str):
            raise ValueError("unknown continue token version")
        return int(data["rv"]), data["start"]
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error) as exc:
        raise ApiError.bad_request(f"continue key is not valid: {exc}") from exc
