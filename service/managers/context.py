"""Who is asking, carried from the protocol layer into the managers."""

from __future__ import annotations

import msgspec


class RequestContext(msgspec.Struct, frozen=True):
    """Identity and correlation of one API call."""

    request_id: str = ""
    principal: str = ""
    """The authenticated user, when authentication is on; it wins over the body's ``user``."""

    def user_for(self, body_user: str) -> str:
        return self.principal or body_user
