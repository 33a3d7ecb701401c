"""Shared fixtures: contexts are built once per session (building one costs more
than a handshake); pairs are fresh per test. The ``pki``, ``client_context``,
``server_context`` and ``memory_pair`` fixtures come from the package's pytest
plugin (``ossl_handshake.pytest_plugin``)."""

from __future__ import annotations

import pytest

from ossl_handshake import Context, Role, certs


@pytest.fixture(scope="session")
def tls12_client_context() -> Context:
    """A verifying client pinned to TLS 1.2."""
    return Context(Role.CLIENT, cafile=certs.CA, max_version="1.2")


@pytest.fixture(scope="session")
def mtls_server_context() -> Context:
    """A server that requires a client certificate from the test CA."""
    return Context(
        Role.SERVER,
        cert=certs.SERVER_ECDSA.cert,
        key=certs.SERVER_ECDSA.key,
        cafile=certs.CA,
        client_auth="require",
    )


@pytest.fixture(scope="session")
def mtls_client_context() -> Context:
    """A verifying client that presents the bundled client certificate."""
    return Context(Role.CLIENT, cafile=certs.CA, cert=certs.CLIENT.cert, key=certs.CLIENT.key)
