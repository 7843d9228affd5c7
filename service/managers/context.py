"""Who is calling, carried from the protocol layer (HTTP or gRPC) into the managers."""

from __future__ import annotations

import msgspec

from service.identity import Identity

ANONYMOUS = Identity(user="", method="none")


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Identity and correlation of one API call."""

    request_id: str = ""
    identity: Identity = ANONYMOUS
    source_ip: str = ""
    user_agent: str = ""

    @property
    def verified(self) -> bool:
        return self.identity.method != "none"

    @property
    def user(self) -> str:
        """The verified user; empty when authentication is off."""
        return self.identity.user if self.verified else ""

    def user_for(self, body_user: str) -> str:
        """Who is recorded: the verified user when authentication is on, else what the body claims."""
        return self.identity.user if self.verified else body_user
