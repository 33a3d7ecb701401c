"""The context factories of the repository's tests: the pytest plugin's own.

Every context the tests' fixtures build comes from these two, the same
functions the plugin's ``ossl_client_context`` / ``ossl_server_context`` use,
so the bundled-PKI defaults live in one place
(:mod:`ossl_handshake.testing.plugin`). Tests that configure a context build
it here (a fixture could not take the keywords).
"""

from __future__ import annotations

from typing import Any

from ossl_handshake import Context, drive, memory_pair
from ossl_handshake.pair.result import HandshakeResult
from ossl_handshake.testing.plugin import make_client_context as client
from ossl_handshake.testing.plugin import make_server_context as server

__all__ = ["client", "run", "server"]


def run(
    client_ctx: Context, server_ctx: Context, name: str | None = "localhost", **kw: Any
) -> HandshakeResult:
    """Drive a fresh memory pair (SNI and host ``name``) without raising."""
    c, s = memory_pair(client_ctx, server_ctx, server_name=name, **kw)
    return drive(c, s)
