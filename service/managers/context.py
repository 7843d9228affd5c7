"""Who is calling, carried from the protocol layer (HTTP or gRPC) into the managers."""

from __future__ import annotations

import msgspec


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Identity and correlation of one API call."""

    request_id: str = ""
    user: str = ""
    """The verified user (an authenticating proxy's header); empty when the service does not know who calls."""

    def user_for(self, body_user: str) -> str:
        """Who is recorded: the verified user when there is one, else what the body claims (upstream's ``user``)."""
        return self.user or body_user
