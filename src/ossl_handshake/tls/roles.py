"""Which end of a handshake an object plays; pure, no libssl."""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """Which end of the handshake an object plays: ``SSL_set_connect_state`` or accept."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def peer(self) -> Role:
        """The other role."""
        return Role.SERVER if self is Role.CLIENT else Role.CLIENT
