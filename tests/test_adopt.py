"""Adopting ``SSL *`` / ``SSL_CTX *`` made by C code, and handing ours to C code.

``tests/c/sslmaker.c`` is compiled into a shared library and loaded with cffi
in ABI mode (``ffi.dlopen``), the way a C library under test would sit in the
same process: it builds its own ``SSL_CTX`` with its own certificates and an
``SSL`` in the right state; the binding adopts it, gives it a memory BIO pair
and drives its handshake against a :class:`Connection` of ours. The library
counts how many of its ``SSL`` objects were really destroyed (an ex_data free
callback), which tells us whether we freed something that was not ours.
"""

from __future__ import annotations

import gc
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cffi
import pytest

import ossl_handshake
from ossl_handshake import (
    CertificateVerifyError,
    Connection,
    Context,
    Role,
    certs,
    handshake,
)
from ossl_handshake._native import (
    BUILD_VERSION,
    RUNTIME_VERSION,
    OpenSSLMismatchError,
    check_versions,
)
from tests.c.build import compile_c, have_compiler

pytestmark = pytest.mark.timeout(30)

C_DIR = Path(__file__).resolve().parent / "c"

CDEF = """
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
SSL_CTX *sslmaker_ctx_new(int is_server, const char *cert, const char *key, const char *cafile);
SSL *sslmaker_ssl_new(SSL_CTX *ctx, int is_server, const char *hostname);
void sslmaker_ctx_free(SSL_CTX *ctx);
void sslmaker_ssl_free(SSL *ssl);
int sslmaker_ssl_count_frees(void);
int sslmaker_ssl_count_destroyed(void);
const char *sslmaker_openssl_version(void);
const char *sslmaker_get_version(const SSL *ssl);
"""


@dataclass
class Maker:
    """The dlopen'ed libsslmaker and helpers to cross the two cffi worlds by address."""

    ffi: Any
    lib: Any
    path: Path

    def addr(self, ptr: Any) -> int:
        return int(self.ffi.cast("uintptr_t", ptr))

    def ssl(self, ours: Any) -> Any:
        """Our ``SSL *`` (binding cdata) as the library's ``SSL *``."""
        return self.ffi.cast("SSL *", int(ossl_handshake.ffi.cast("uintptr_t", ours)))

    def ctx(self, is_server: bool, cert: Path | None, key: Path | None, cafile: Path | None) -> Any:
        def c(p: Path | None) -> Any:
            return str(p).encode() if p is not None else self.ffi.NULL

        ctx = self.lib.sslmaker_ctx_new(int(is_server), c(cert), c(key), c(cafile))
        assert ctx != self.ffi.NULL, "sslmaker_ctx_new failed"
        return ctx

    def text(self, p: Any) -> str:
        return str(self.ffi.string(p).decode())

    @property
    def destroyed(self) -> int:
        return int(self.lib.sslmaker_ssl_count_destroyed())


@pytest.fixture(scope="module")
def maker(tmp_path_factory: pytest.TempPathFactory) -> Maker:
    if not have_compiler():
        pytest.skip("no C compiler ($CC or cc): cannot build tests/c/sslmaker.c")
    out = compile_c(
        C_DIR / "sslmaker.c", tmp_path_factory.mktemp("sslmaker") / "libsslmaker.so", shared=True
    )
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    # RTLD_NODELETE: the library registers an SSL ex_data free callback for
    # the whole process; unloading it after this module would leave every
    # later SSL_free calling into unmapped code (a segfault in other tests).
    return Maker(ffi, ffi.dlopen(str(out), ffi.RTLD_NOW | ffi.RTLD_NODELETE), out)


@pytest.fixture(scope="module")
def c_server_ctx(maker: Maker) -> Iterator[Any]:
    """A server SSL_CTX made in C with the bundled RSA chain (not the binding's ECDSA one)."""
    ctx = maker.ctx(True, certs.SERVER_RSA.cert, certs.SERVER_RSA.key, None)
    yield ctx
    maker.lib.sslmaker_ctx_free(ctx)


@pytest.fixture(scope="module")
def c_client_ctx(maker: Maker) -> Iterator[Any]:
    """A verifying client SSL_CTX made in C that trusts the test CA."""
    ctx = maker.ctx(False, None, None, certs.CA)
    yield ctx
    maker.lib.sslmaker_ctx_free(ctx)


def test_c_library_uses_the_same_openssl_as_the_binding(maker: Maker) -> None:
    assert maker.text(maker.lib.sslmaker_openssl_version()) == ossl_handshake.OPENSSL_VERSION
    assert BUILD_VERSION >> 16 == RUNTIME_VERSION >> 16  # same major.minor


def test_import_check_refuses_a_different_openssl_minor_and_warns_on_a_patch() -> None:
    with pytest.raises(OpenSSLMismatchError, match="OPENSSL_DIR"):
        check_versions(0x3000013, 0x3020001, "OpenSSL 3.2.1")
    with pytest.warns(RuntimeWarning, match=r"running with OpenSSL 3\.0\.2"):
        check_versions(0x3000013, 0x3000002, "OpenSSL 3.0.2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_versions(BUILD_VERSION, RUNTIME_VERSION, ossl_handshake.OPENSSL_VERSION)


def test_adopted_c_server_handshakes_with_our_client_and_is_not_freed_by_us(
    maker: Maker, c_server_ctx: Any, ossl_client_context: Context
) -> None:
    ssl = maker.lib.sslmaker_ssl_new(c_server_ctx, 1, maker.ffi.NULL)
    assert ssl != maker.ffi.NULL
    before = maker.destroyed

    server = Connection.adopt(maker.addr(ssl))  # an integer address, not owned
    assert server.role is Role.SERVER  # read with SSL_is_server
    server.set_bio_pair()
    client = Connection(ossl_client_context, server_name="localhost")
    result = handshake(client, server)

    assert result.ok
    assert result.client.version == "TLSv1.3"
    assert result.client.peer_subject is not None and "localhost" in result.client.peer_subject
    assert result.client.peer_signature_algorithm == "RSASSA-PSS"  # the C side's RSA key
    # The C library sees the handshake our driver ran on its object.
    assert maker.text(maker.lib.sslmaker_get_version(ssl)) == "TLSv1.3"

    client.write(b"ping")
    client.transfer_to(server)
    assert server.read() == b"ping"

    server.close()
    server.close()  # idempotent
    del server
    gc.collect()
    assert maker.destroyed == before, "the binding destroyed an SSL it did not own"
    # Still alive and usable by its creator, who frees it exactly once.
    assert maker.text(maker.lib.sslmaker_get_version(ssl)) == "TLSv1.3"
    frees = maker.lib.sslmaker_ssl_count_frees()
    maker.lib.sslmaker_ssl_free(ssl)
    assert maker.lib.sslmaker_ssl_count_frees() == frees + 1
    assert maker.destroyed == before + 1
    client.close()


def test_owned_adopted_c_client_is_freed_exactly_once(
    maker: Maker, c_client_ctx: Any, ossl_server_context: Context
) -> None:
    ssl = maker.lib.sslmaker_ssl_new(c_client_ctx, 0, b"localhost")
    before = maker.destroyed

    client = Connection.adopt(maker.ffi.cast("void *", ssl), owned=True)  # cdata of another ffi
    assert client.role is Role.CLIENT
    client.set_bio_pair()
    server = Connection(ossl_server_context)
    result = handshake(client, server)
    assert result.ok
    assert result.server.server_name == "localhost"  # SNI set by the C code
    assert result.client.verify_result == 0

    assert maker.destroyed == before
    client.close()
    assert maker.destroyed == before + 1
    client.close()
    del client
    gc.collect()
    assert maker.destroyed == before + 1, "owned SSL freed more than once"
    server.close()


def test_adopted_c_client_with_wrong_trust_anchor_fails_verification_and_sends_the_alert(
    maker: Maker, ossl_server_context: Context
) -> None:
    ctx = maker.ctx(False, None, None, certs.UNTRUSTED_CA)
    ssl = maker.lib.sslmaker_ssl_new(ctx, 0, b"localhost")
    try:
        client = Connection.adopt(maker.addr(ssl))
        client.set_bio_pair()
        server = Connection(ossl_server_context)
        result = handshake(client, server, check=False)
        assert isinstance(result.error, CertificateVerifyError)
        assert result.failed_side is Role.CLIENT
        assert result.error.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        # Our info callback went in because the C code set none: the alert is recorded.
        assert client.alert_sent == "unknown_ca"
        assert server.alert_received == "unknown_ca"
        client.close()
        server.close()
    finally:
        maker.lib.sslmaker_ssl_free(ssl)
        maker.lib.sslmaker_ctx_free(ctx)


def test_c_code_reads_the_version_from_our_ssl_pointer(
    maker: Maker, ossl_client_context: Context, ossl_server_context: Context
) -> None:
    client = Connection(ossl_client_context, server_name="localhost")
    server = Connection(ossl_server_context)
    handshake(client, server)
    assert maker.text(maker.lib.sslmaker_get_version(maker.ssl(client.ptr))) == client.version
    client.close()
    with pytest.raises(ValueError, match="closed"):
        _ = client.ptr
    server.close()


def test_our_connection_runs_on_an_adopted_c_context(
    maker: Maker, ossl_client_context: Context
) -> None:
    ctx = maker.ctx(True, certs.SERVER_RSA.cert, certs.SERVER_RSA.key, None)
    adopted = Context.adopt(maker.addr(ctx), "server")
    server = Connection(adopted)
    client = Connection(ossl_client_context, server_name="localhost")
    assert handshake(client, server).ok
    server.close()
    adopted.close()
    # The C side's reference is still good: it can make another SSL from it.
    ssl = maker.lib.sslmaker_ssl_new(ctx, 1, maker.ffi.NULL)
    assert ssl != maker.ffi.NULL
    maker.lib.sslmaker_ssl_free(ssl)
    maker.lib.sslmaker_ctx_free(ctx)
    client.close()


def test_adopting_bad_pointers_raises_typed_errors(
    ossl_client_context: Context, ossl_server_context: Context
) -> None:
    with pytest.raises(ValueError, match="NULL"):
        Connection.adopt(0)
    with pytest.raises(ValueError, match="NULL"):
        Connection.adopt(ossl_handshake.ffi.NULL)
    with pytest.raises(TypeError):
        Connection.adopt("0x1234")
    with pytest.raises(ValueError, match="NULL"):
        Context.adopt(0, "client")
    own = Connection(ossl_client_context, server_name="localhost")
    with pytest.raises(ValueError, match="already belongs to a live Connection"):
        Connection.adopt(own.ptr)
    with pytest.raises(ValueError, match="already belongs to a live Context"):
        Context.adopt(ossl_server_context.ptr, "server")
    own.close()


def test_readme_adopt_example_runs(
    maker: Maker, ossl_client_context: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "c-programs.md").read_text(
        encoding="utf-8"
    )
    match = re.search(r"<!-- adopt-example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match is not None, "docs/guide/c-programs.md lost its adopt example"
    # The same file as `maker` (dlopen finds it loaded), so its counters are ours too.
    (tmp_path / "libsslmaker.so").symlink_to(maker.path)
    monkeypatch.chdir(tmp_path)
    before = maker.destroyed
    namespace: dict[str, Any] = {"client_ctx": ossl_client_context}
    exec(compile(match.group(1), "c-programs.md:adopt-example", "exec"), namespace)
    assert namespace["result"].ok
    assert namespace["result"].server.version == "TLSv1.3"
    assert maker.destroyed == before + 1  # freed once, by its creator


def test_ssl_made_in_c_from_our_context_is_adopted_with_that_context(
    maker: Maker, ossl_server_context: Context, ossl_client_context: Context
) -> None:
    our_ctx = maker.ffi.cast(
        "SSL_CTX *", int(ossl_handshake.ffi.cast("uintptr_t", ossl_server_context.ptr))
    )
    ssl = maker.lib.sslmaker_ssl_new(our_ctx, 1, maker.ffi.NULL)
    server = Connection.adopt(ssl, owned=True)
    assert server.context is ossl_server_context  # the live Context, not a second wrapper
    server.set_bio_pair()
    client = Connection(ossl_client_context, server_name="localhost")
    assert handshake(client, server).server.version == "TLSv1.3"
    before = maker.destroyed
    server.close()
    assert maker.destroyed == before + 1
    assert not ossl_server_context.closed  # closing the connection left our context alone
    client.close()
