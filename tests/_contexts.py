"""Context factories shared by the configuration tests.

Each test builds the contexts it configures (a fixture could not take the
keywords); these factories keep the bundled PKI defaults in one place.
"""

from __future__ import annotations

from typing import Any

from ossl_handshake import Context, Role, certs, drive, memory_pair
from ossl_handshake.pair.result import HandshakeResult


def server(identity: certs.Identity = certs.SERVER_ECDSA, **kw: Any) -> Context:
    """A server context with ``identity``'s chain and key plus ``kw``."""
    return Context(Role.SERVER, cert=identity.cert, key=identity.key, **kw)


def client(**kw: Any) -> Context:
    """A verifying client context trusting the bundled test CA, plus ``kw``."""
    return Context(Role.CLIENT, cafile=certs.CA, **kw)


def run(
    client_ctx: Context, server_ctx: Context, name: str | None = "localhost", **kw: Any
) -> HandshakeResult:
    """Drive a fresh memory pair (SNI and host ``name``) without raising."""
    c, s = memory_pair(client_ctx, server_ctx, server_name=name, **kw)
    return drive(c, s)
