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


def as_role(role: Role | str | None, default: Role) -> Role:
    """``role`` as a :class:`Role` (``"client"``/``"server"`` accepted), or ``default``."""
    if role is None:
        return default
    if isinstance(role, Role):
        return role
    if isinstance(role, str):
        try:
            return Role(role)
        except ValueError:
            raise ValueError(f"role must be 'client' or 'server', not {role!r}") from None
    raise TypeError(f"role must be a Role or 'client'/'server', not {type(role).__name__}")
