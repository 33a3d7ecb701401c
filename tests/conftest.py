"""Fixtures of the repository's tests beyond the plugin's.

The base set is the package's pytest plugin (``ossl_handshake.testing.plugin``,
loaded through its ``pytest11`` entry point): ``ossl_pki``,
``ossl_client_context``, ``ossl_server_context``, ``ossl_memory_pair``,
``ossl_tls_server``, ``ossl_expect_handshake_failure``. This file adds only
what the plugin does not offer, built by the same factories
(:mod:`tests._contexts`). Contexts are built once per session (building one
costs more than a handshake); pairs are fresh per test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ossl_handshake import Context, certs
from tests._contexts import client, server
from tests._peers import EchoServer
from tests.c.build import compile_c, have_compiler


@pytest.fixture(scope="session")
def tls12_client_context() -> Context:
    """A verifying client pinned to TLS 1.2."""
    return client(max_version="1.2")


@pytest.fixture(scope="session")
def mtls_server_context() -> Context:
    """A server that requires a client certificate from the test CA."""
    return server(cafile=certs.CA, client_auth="require")


@pytest.fixture(scope="session")
def mtls_client_context() -> Context:
    """A verifying client that presents the bundled client certificate."""
    return client(cert=certs.CLIENT.cert, key=certs.CLIENT.key)


@pytest.fixture(scope="session")
def clients(tls12_client_context: Context) -> dict[str, Context]:
    """Verifying clients by highest version: ``"1.2"`` and ``"1.3"``."""
    return {"1.2": tls12_client_context, "1.3": client(max_version="1.3")}


@pytest.fixture(scope="session")
def mtls_clients() -> dict[str, Context]:
    """Like :func:`clients`, presenting the bundled client certificate."""
    mtls = {"cert": certs.CLIENT.cert, "key": certs.CLIENT.key}
    return {v: client(max_version=v, **mtls) for v in ("1.2", "1.3")}


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


@pytest.fixture
def echo_process(echo_server_exe: Path, tmp_path: Path) -> Iterator[Callable[..., EchoServer]]:
    """Start tests/c/echo_server with exactly the flags given (``keylog=True``: an
    ``SSLKEYLOGFILE`` in its workdir, ``server.address``); killed at the end."""
    started: list[EchoServer] = []

    def start(*args: str, keylog: bool = False) -> EchoServer:
        workdir = tmp_path / f"echo{len(started)}"
        keys = workdir / "c-server.keys" if keylog else None
        server = EchoServer(echo_server_exe, workdir, *args, keylog=keys)
        started.append(server)
        return server

    yield start
    for running in started:
        running.kill()


@pytest.fixture
def echo_server(echo_process: Callable[..., EchoServer]) -> Callable[..., EchoServer]:
    """:func:`echo_process` with the ECDSA identity first (extra flags as given)."""

    def start(*args: str, keylog: bool = False) -> EchoServer:
        ident = ("--cert", str(certs.SERVER_ECDSA.cert), "--key", str(certs.SERVER_ECDSA.key))
        return echo_process(*ident, *args, keylog=keylog)

    return start


@pytest.fixture
def keylogged_echo_server(echo_server: Callable[..., EchoServer]) -> Callable[..., EchoServer]:
    """:func:`echo_server`, TLS 1.3 only, with SSLKEYLOGFILE in its workdir."""

    def start(*args: str) -> EchoServer:
        return echo_server("--min-version", "1.3", *args, keylog=True)

    return start
