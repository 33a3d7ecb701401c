"""Pre-shared keys: TLS 1.3 external PSKs and TLS 1.2 PSK suites, against s_server/s_client too.

A client gets one identity and key (``Context(psk=(identity, key))``); a
server gets a lookup (a dict, or a callable). Both read back the identity
used (``psk_identity``) and, with TLS 1.2, the server's hint.
"""

from __future__ import annotations

import pytest

from ossl_handshake import (
    CallbackError,
    Connection,
    Context,
    ProtocolError,
    Role,
    handshake,
    memory_pair,
)
from ossl_handshake.core.psk import PSK
from tests._beyond import (
    OneServer,
    connected,
    finish,
    gnutls_cli,
    printed_by,
    run_to_server,
    s_client_cmd,
    tls_flag,
)
from tests._contexts import client, server
from tests._openssl import PSK_BINDER_ALERT
from tests._peers import SServer, openssl_cli

pytestmark = pytest.mark.timeout(30)

IDENTITY = b"client-7"
KEY = bytes(range(32))
PSK12 = "PSK-AES128-GCM-SHA256"


def run(c_ctx: Context, s_ctx: Context):  # type: ignore[no-untyped-def]
    c, s = memory_pair(c_ctx, s_ctx, server_name="localhost")
    return c, s, handshake(c, s, check=False)


def psk_only_server(**kw: object) -> Context:
    """A server with no certificate: the PSK is its only way to authenticate."""
    kw.setdefault("psk", {IDENTITY: KEY})
    return Context("server", **kw)  # type: ignore[arg-type]


# -- TLS 1.3 external PSKs -------------------------------------------------------------


def test_tls13_external_psk_handshake_without_certificates() -> None:
    c, s, result = run(client(psk=(IDENTITY, KEY)), psk_only_server())
    assert result.ok
    assert result.client.version == "TLSv1.3"
    assert c.peer_certificate is None and s.peer_certificate is None
    assert c.psk_identity == IDENTITY and s.psk_identity == IDENTITY
    assert result.client.session_reused and result.server.session_reused
    assert c.export_keying_material("EXPERIMENTAL-psk", 16) == s.export_keying_material(
        "EXPERIMENTAL-psk", 16
    )


def test_the_psk_hash_decides_whether_a_certificate_server_uses_it() -> None:
    """The PSK's cipher fixes its hash: a server with a certificate that picks a
    cipher of another hash authenticates with its certificate instead."""
    # SHA-256 PSK, and the server prefers TLS_AES_256_GCM_SHA384: not used.
    c, s, result = run(client(psk=(IDENTITY, KEY)), server(psk={IDENTITY: KEY}))
    assert result.ok and result.client.cipher == "TLS_AES_256_GCM_SHA384"
    assert c.peer_certificate is not None and c.psk_identity is None and s.psk_identity is None
    # A SHA-384 PSK on both sides: used, no certificate.
    sha384 = "TLS_AES_256_GCM_SHA384"
    c, s, result = run(
        client(psk=PSK(IDENTITY, KEY, sha384)), server(psk={IDENTITY: KEY}, psk_cipher=sha384)
    )
    assert result.ok and c.peer_certificate is None
    assert c.psk_identity == s.psk_identity == IDENTITY


def test_a_wrong_key_fails_the_binder() -> None:
    _, _, result = run(client(psk=(IDENTITY, b"\x00" * 32)), psk_only_server())
    assert not result.ok and result.failed_side is Role.SERVER
    assert isinstance(result.error, ProtocolError)
    assert "binder does not verify" in [e.reason for e in result.error.errors]
    assert result.client.alert_received == PSK_BINDER_ALERT


def test_an_unknown_identity_leaves_a_certificateless_server_nothing_to_offer() -> None:
    c, s, result = run(client(psk=(b"stranger", KEY)), psk_only_server())
    assert not result.ok and result.failed_side is Role.SERVER
    assert result.server.alert_sent == "handshake_failure"
    assert c.psk_identity is None and s.psk_identity is None


def test_a_callable_lookup_sees_the_identity_and_may_return_a_psk() -> None:
    asked: list[bytes] = []

    def lookup(identity: bytes) -> PSK | None:
        asked.append(identity)
        return PSK(identity, KEY) if identity == IDENTITY else None

    _, s, result = run(client(psk=(IDENTITY, KEY)), psk_only_server(psk=lookup))
    assert result.ok and asked == [IDENTITY] and s.psk_identity == IDENTITY


@pytest.mark.parametrize(
    ("lookup", "cause"),
    [(lambda _identity: 1 / 0, ZeroDivisionError), (lambda _identity: 42, TypeError)],
)
def test_a_failing_lookup_is_a_callback_error(lookup, cause: type[Exception]) -> None:  # type: ignore[no-untyped-def]
    c, s = memory_pair(client(psk=(IDENTITY, KEY)), psk_only_server(psk=lookup))
    with pytest.raises(CallbackError) as info:
        handshake(c, s)
    assert isinstance(info.value.__cause__, cause)
    assert info.value.role is Role.SERVER


# -- TLS 1.2 PSK cipher suites -----------------------------------------------------------


def test_tls12_psk_cipher_suite_with_an_identity_hint() -> None:
    c, s, result = run(
        client(psk=(IDENTITY, KEY), max_version="1.2", ciphers=PSK12),
        psk_only_server(ciphers=PSK12, psk_identity_hint="hint-for-clients"),
    )
    assert result.ok
    assert result.client.cipher == PSK12 and result.client.version == "TLSv1.2"
    assert c.psk_identity_hint == b"hint-for-clients"
    assert c.psk_identity == IDENTITY and s.psk_identity == IDENTITY
    assert c.peer_certificate is None


def test_tls12_unknown_identity_gets_unknown_psk_identity() -> None:
    _, _, result = run(
        client(psk=(b"stranger", KEY), max_version="1.2", ciphers=PSK12),
        psk_only_server(ciphers=PSK12),
    )
    assert not result.ok and result.failed_side is Role.SERVER
    assert result.server.alert_sent == "unknown_psk_identity"
    assert result.client.alert_received == "unknown_psk_identity"


def test_tls12_wrong_key_is_a_bad_record_mac_on_the_finished() -> None:
    _, _, result = run(
        client(psk=(IDENTITY, b"\x01" * 32), max_version="1.2", ciphers=PSK12),
        psk_only_server(ciphers=PSK12),
    )
    assert not result.ok and result.server.alert_sent == "bad_record_mac"


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "psk", "error"),
    [
        ("client", 42, TypeError),
        ("client", (b"", KEY), ValueError),
        ("client", (IDENTITY, b""), ValueError),
        ("client", (IDENTITY, b"k" * 257), ValueError),
        ("client", PSK, TypeError),
        ("server", 42, TypeError),
        ("server", {b"id": 3}, TypeError),
    ],
)
def test_bad_psk_configuration_is_a_typed_error(role: str, psk: object, error: type) -> None:
    with pytest.raises(error):
        Context(role, psk=psk)  # type: ignore[arg-type]


def test_bad_psk_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="PSK cipher"):
        PSK(IDENTITY, KEY, "TLS_AES_128_CCM_SHA256")
    with pytest.raises(ValueError, match="identity_hint is sent by a server"):
        client(psk=(IDENTITY, KEY), psk_identity_hint="x")
    with pytest.raises(ValueError, match="psk_cipher"):
        psk_only_server(psk_cipher="AES")


# -- against openssl s_server / s_client ---------------------------------------------------


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_our_client_and_openssl_s_server_share_a_psk(version: str) -> None:
    openssl = openssl_cli()
    extra = ["-nocert", f"-tls{version.replace('.', '_')}"]
    if version == "1.2":
        extra += ["-cipher", PSK12]
    peer = SServer(openssl, "-psk", KEY.hex(), "-psk_identity", IDENTITY.decode(), *extra)
    ctx = client(psk=(IDENTITY, KEY), ciphers=PSK12 if version == "1.2" else None)
    try:
        with connected(peer, ctx) as conn:
            conn.do_handshake()
            assert conn.version == f"TLSv{version}"
            assert conn.psk_identity == IDENTITY and conn.peer_certificate is None
            conn.write(b"over a psk\n")
            printed_by(peer, b"over a psk")
            conn.shutdown()
    finally:
        _, out, err = peer.finish(timeout=10)
    assert "over a psk" in out, out + err


@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_openssl_s_client_and_our_server_share_a_psk(version: str) -> None:
    ctx = psk_only_server(ciphers=PSK12) if version == "1.2" else psk_only_server()

    def body(conn: Connection, seen: dict[str, object]) -> None:
        seen["identity"] = conn.psk_identity
        seen["data"] = conn.read()

    srv = OneServer(ctx, body)
    cmd = s_client_cmd(srv.port, "-psk", KEY.hex(), trust=False)
    cmd += ["-psk_identity", IDENTITY.decode(), tls_flag(version)]
    if version == "1.2":
        cmd += ["-cipher", PSK12]
    proc = run_to_server(cmd, b"psk ping\n")
    seen = srv.join()
    assert "error" not in seen, (seen, proc.stderr.decode(errors="replace"))
    assert seen["identity"] == IDENTITY and seen["data"] == b"psk ping\n"


def test_gnutls_cli_and_our_server_share_a_tls13_psk() -> None:
    def body(conn: Connection, seen: dict[str, object]) -> None:
        seen["identity"], seen["version"] = conn.psk_identity, conn.version
        seen["data"] = conn.read()

    srv = OneServer(psk_only_server(), body)
    proc = gnutls_cli(
        srv.port,
        "--pskusername",
        IDENTITY.decode(),
        "--pskkey",
        KEY.hex(),
        "--priority",
        "NORMAL:-KX-ALL:+ECDHE-PSK:+DHE-PSK:+PSK",
    )
    seen = srv.join()
    out, err = finish(proc)
    assert "error" not in seen, (seen, err)
    assert seen["identity"] == IDENTITY and seen["version"] == "TLSv1.3"
    assert seen["data"] == b"ping\n"
    assert f"PSK authentication. Connected as '{IDENTITY.decode()}'" in out
