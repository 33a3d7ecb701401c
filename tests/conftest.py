"""Shared fixtures: contexts are built once per session (building one costs more
than a handshake); pairs are fresh per test. The ``pki``, ``client_context``,
``server_context`` and ``memory_pair`` fixtures come from the package's pytest
plugin (``ossl_handshake.testing.plugin``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ossl_handshake import Context, Role, certs
from tests.c.build import compile_c, have_compiler


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


# ---- the C programs in tests/c/, compiled once per session ----------------------------

C_DIR = Path(__file__).resolve().parent / "c"


@pytest.fixture(scope="session")
def c_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the C peers are built; skips the C tests when there is no compiler."""
    if not have_compiler():
        pytest.skip("no C compiler: set $CC or install cc to build the C peers in tests/c/")
    return tmp_path_factory.mktemp("c-build")


@pytest.fixture(scope="session")
def echo_server_exe(c_build_dir: Path) -> Path:
    """tests/c/echo_server.c, a blocking TLS echo server in C."""
    return compile_c(C_DIR / "echo_server.c", c_build_dir / "echo_server")


@pytest.fixture(scope="session")
def tls_client_exe(c_build_dir: Path) -> Path:
    """tests/c/tls_client.c, a blocking TLS client in C."""
    return compile_c(C_DIR / "tls_client.c", c_build_dir / "tls_client")
