"""``Context.set_dh_params`` / ``dh_params=``: a TLS 1.2 server that can do DHE.

Without DHE parameters an OpenSSL server offers no ``DHE-*`` suite, so a
client that offers only those fails with "no shared cipher"; ``"auto"``
(``SSL_CTX_set_dh_auto``) or PEM parameters (``SSL_CTX_set0_tmp_dh_pkey``,
``SSL_CTX_set_tmp_dh`` on 1.1.1) fix that. Bad input is a typed error before
any C call; a context in use refuses the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ossl_handshake import (
    ConfigurationError,
    Context,
    ContextInUseError,
    Role,
    certs,
    drive,
    memory_pair,
)
from ossl_handshake.testing.plugin import make_client_context, make_server_context
from tests._openssl import DHE_BY_DEFAULT
from tests._peers import openssl_cli, run

pytestmark = pytest.mark.timeout(60)

DHE_CIPHER = "DHE-RSA-AES128-GCM-SHA256"


@pytest.fixture(scope="module")
def ffdhe2048(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RFC 7919 ffdhe2048 as PEM DH parameters, written by the openssl command line."""
    pem = tmp_path_factory.mktemp("dh") / "ffdhe2048.pem"
    rc, out, err = run(
        [openssl_cli(), "genpkey", "-genparam", "-algorithm", "DH",
         "-pkeyopt", "dh_param:ffdhe2048", "-out", str(pem)]
    )  # fmt: skip
    assert rc == 0, out + err
    return pem


def dhe_server(**kw: object) -> Context:
    return make_server_context(certs.SERVER_RSA, max_version="1.2", ciphers=DHE_CIPHER, **kw)


def dhe_handshake(server_ctx: Context) -> tuple[str | None, str | None]:
    """(client cipher, server alert sent) of a TLS 1.2 client offering only DHE."""
    client_ctx = make_client_context(max_version="1.2", ciphers=DHE_CIPHER)
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    with client, server:
        result = drive(client, server)
        return (result.client.cipher if result.ok else None), result.server.alert_sent


def test_without_dh_params_a_dhe_only_client_finds_no_shared_cipher() -> None:
    expected = (DHE_CIPHER, None) if DHE_BY_DEFAULT else (None, "handshake_failure")
    assert dhe_handshake(dhe_server()) == expected


def test_dh_auto_negotiates_dhe() -> None:
    assert dhe_handshake(dhe_server(dh_params="auto")) == (DHE_CIPHER, None)


def test_dh_params_from_a_pem_file(ffdhe2048: Path) -> None:
    assert dhe_handshake(dhe_server(dh_params=ffdhe2048)) == (DHE_CIPHER, None)
    assert dhe_handshake(dhe_server(dh_params=str(ffdhe2048))) == (DHE_CIPHER, None)


def test_dh_params_from_pem_bytes_after_construction(ffdhe2048: Path) -> None:
    ctx = dhe_server()
    ctx.set_dh_params(ffdhe2048.read_bytes())
    assert dhe_handshake(ctx) == (DHE_CIPHER, None)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (certs.CA, ValueError, "no -----BEGIN DH PARAMETERS----- block"),
        (b"not pem", ValueError, "dh_params bytes: no -----BEGIN DH PARAMETERS"),
        ("/nonexistent/dh.pem", FileNotFoundError, "no such file"),
        (2048, TypeError, "dh_params must be 'auto', a PEM file path or PEM bytes"),
    ],
    ids=["a-certificate", "garbage-bytes", "missing-file", "an-int"],
)
def test_bad_dh_params_are_typed_errors(value: object, error: type[Exception], match: str) -> None:
    ctx = dhe_server()
    with pytest.raises(error, match=match):
        ctx.set_dh_params(value)  # type: ignore[arg-type]


def test_a_truncated_dh_pem_is_refused_by_openssl(ffdhe2048: Path) -> None:
    lines = ffdhe2048.read_bytes().splitlines(keepends=True)
    truncated = b"".join([*lines[:2], lines[-1]])  # BEGIN, one line of base64, END
    with pytest.raises(ConfigurationError, match="SSL_CTX_set0_tmp_dh_pkey failed"):
        dhe_server().set_dh_params(truncated)


def test_dh_params_are_for_servers() -> None:
    with pytest.raises(ValueError, match="DHE parameters are for server contexts"):
        Context(Role.CLIENT, dh_params="auto")


def test_dh_params_refused_while_a_connection_is_open() -> None:
    ctx = dhe_server()
    client, server = memory_pair(make_client_context(), ctx, server_name="localhost")
    with client, server, pytest.raises(ContextInUseError, match="set_dh_params"):
        ctx.set_dh_params("auto")
    ctx.set_dh_params("auto")  # closed: allowed again
