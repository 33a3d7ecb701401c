"""pytest fixtures for handshake tests (registered through the ``pytest11`` entry point).

Fixtures: ``pki`` (the bundled test PKI module), ``client_context`` and
``server_context`` (ECDSA server, client trusting the test CA, built once per
session), and ``memory_pair`` (a fresh client/server pair per test, closed
afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from ossl_handshake import certs
from ossl_handshake.connection import Connection
from ossl_handshake.constants import Role
from ossl_handshake.context import Context
from ossl_handshake.pair import memory_pair as _memory_pair


@pytest.fixture(scope="session")
def pki() -> ModuleType:
    """The bundled test PKI (:mod:`ossl_handshake.certs`)."""
    return certs


@pytest.fixture(scope="session")
def server_context() -> Context:
    """A server context with the bundled ECDSA P-256 certificate chain."""
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


@pytest.fixture(scope="session")
def client_context() -> Context:
    """A verifying client context that trusts the bundled test CA."""
    return Context(Role.CLIENT, cafile=certs.CA)


@pytest.fixture
def memory_pair(
    client_context: Context, server_context: Context
) -> Iterator[tuple[Connection, Connection]]:
    """A fresh (client, server) pair on memory BIO pairs, SNI/host ``localhost``."""
    client, server = _memory_pair(client_context, server_context, server_name="localhost")
    yield client, server
    client.close()
    server.close()
