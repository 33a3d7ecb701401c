"""The ClientHello callback: what the server sees of the client's offer, and what it answers.

Scenarios: the decoded offer matches what the client configured; the callback
rejects with a chosen alert, switches to another context, or pauses
(``WANT_CLIENT_HELLO_CB``) and is resumed to success or to the expected
failure, in memory and over a socket with the C client of ``tests/c``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ossl_handshake import (
    PAUSE,
    CallbackError,
    ClientHello,
    ClosedError,
    Context,
    ErrorCode,
    ProtocolError,
    Reject,
    Role,
    WantClientHelloError,
    WantReadError,
    certs,
    drive,
    handshake,
    memory_pair,
)
from ossl_handshake.core.client_hello import ClientHelloPause
from ossl_handshake.tls.client_hello import ClientHelloDecodeError, is_grease
from tests._contexts import client, server
from tests._pause_sockets import PING_PONG, answer_ping, c_client, serve_one

pytestmark = pytest.mark.timeout(60)

HANDSHAKE = 22  # the record content type of handshake messages


class Recorder:
    """A ClientHello callback that records each hello and gives a scripted answer."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.seen: list[ClientHello] = []

    def __call__(self, hello: ClientHello) -> Any:
        self.seen.append(hello)
        return self.answers.pop(0) if self.answers else None


def _extension_types(msg: bytes) -> list[int]:
    """The extension types of a raw ClientHello handshake message, in order."""
    pos = 4 + 2 + 32
    pos += 1 + msg[pos]  # session id
    pos += 2 + int.from_bytes(msg[pos : pos + 2], "big")  # cipher suites
    pos += 1 + msg[pos]  # compression methods
    end = pos + 2 + int.from_bytes(msg[pos : pos + 2], "big")
    pos += 2
    types = []
    while pos < end:
        types.append(int.from_bytes(msg[pos : pos + 2], "big"))
        pos += 4 + int.from_bytes(msg[pos + 2 : pos + 4], "big")
    return types


def _pair(server_ctx: Context, client_ctx: Context | None = None, **kw: Any) -> Any:
    return memory_pair(client_ctx or client(), server_ctx, server_name="localhost", **kw)


def test_the_server_sees_what_the_client_offered() -> None:
    rec = Recorder()
    offer = client(
        alpn=["h2", "http/1.1"],
        groups="X25519:P-256",
        sigalgs="ECDSA+SHA256:RSA-PSS+SHA256",
        ciphersuites="TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
    )
    c, s = _pair(server(client_hello_callback=rec), offer)
    wire_types: list[int] = []
    s.on_message = lambda conn, sent, version, content_type, data: (
        wire_types.extend(_extension_types(data))
        if not sent and content_type == HANDSHAKE and data[:1] == b"\x01"
        else None
    )
    result = handshake(c, s)
    assert result.ok
    (hello,) = rec.seen
    assert result.server.client_hello is hello  # the server's view is on its result
    assert result.client.client_hello is None
    assert hello.legacy_version == 0x0303
    assert len(hello.random) == 32
    assert hello.supported_version_names is not None
    assert hello.supported_version_names[0] == "TLSv1.3"
    assert hello.group_names == ("x25519", "secp256r1")
    assert hello.key_shares is not None
    assert [k.group_name for k in hello.key_shares] == ["x25519"]
    assert len(hello.key_shares[0].key_exchange) == 32
    assert hello.signature_algorithm_names == ("ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256")
    assert hello.server_name == "localhost"
    assert hello.alpn == ("h2", "http/1.1")
    assert hello.psk_modes == ("psk_dhe_ke",)
    assert hello.cipher_names[:2] == ("TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256")
    assert hello.cipher_suites[:2] == (0x1301, 0x1303)
    assert hello.compression_methods == b"\x00"
    # Extension types in the order sent (as the message callback saw the
    # ClientHello), each with its raw bytes.
    assert hello.extension_types == tuple(wire_types)
    assert {0, 10, 13, 16, 43, 45, 51} <= set(hello.extension_types)
    assert hello.extension(16) == b"\x00\x0c\x02h2\x08http/1.1"
    assert hello.extension(0xFFFF) is None
    assert hello.to_dict()["alpn"] == ("h2", "http/1.1")


def test_a_tls12_only_client_offers_no_tls13_extensions() -> None:
    rec = Recorder()
    result = handshake(*_pair(server(client_hello_callback=rec), client(max_version="1.2")))
    assert result.ok
    hello = rec.seen[0]
    assert hello.supported_versions is None and hello.key_shares is None
    assert hello.psk_modes is None


def test_after_a_hello_retry_request_the_callback_sees_the_second_hello_and_may_pause() -> None:
    rec = Recorder(PAUSE, PAUSE)
    c, s = _pair(server(groups="P-256", client_hello_callback=rec), client(groups="X25519:P-256"))
    pauses: list[Any] = []
    result = handshake(c, s, on_pause=lambda p: (pauses.append(p), p.resume(accept=True)))
    assert result.ok and result.client.hello_retry_request
    first, second = rec.seen
    assert first.key_shares is not None and second.key_shares is not None
    assert [k.group_name for k in first.key_shares] == ["x25519"]
    assert [k.group_name for k in second.key_shares] == ["secp256r1"]
    assert first.random == second.random
    assert result.server.client_hello is second
    assert len(pauses) == 2 and pauses[0] is not pauses[1]


def test_a_pause_does_not_keep_its_connection_alive() -> None:
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)))
    pause = drive(c, s).paused
    assert pause is not None and pause.connection is s
    c.close()
    s.close()
    del c, s
    import gc

    gc.collect()
    assert pause.connection is None


@pytest.mark.parametrize(
    ("answer", "alert"), [(Reject("access_denied"), "access_denied"), (False, "handshake_failure")]
)
def test_the_callback_rejects_with_the_alert_it_chose(answer: Any, alert: str) -> None:
    result = drive(*_pair(server(client_hello_callback=Recorder(answer))))
    assert isinstance(result.error, ProtocolError)
    assert result.failed_side is Role.SERVER
    assert result.server.alert_sent == alert
    assert result.client.alert_received == alert


def test_the_callback_switches_the_connection_to_another_context() -> None:
    alt = server(certs.SNI_ALT)
    result = handshake(*_pair(server(client_hello_callback=Recorder(alt)), verify_host=False))
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=alt.localhost"


def test_a_paused_hello_stops_the_drive_with_the_pause_and_resumes_to_success() -> None:
    rec = Recorder(PAUSE)
    c, s = _pair(server(client_hello_callback=rec))
    result = drive(c, s)
    assert not result.ok
    pause = result.paused
    assert isinstance(pause, ClientHelloPause)
    assert isinstance(result.error, WantClientHelloError) and result.error.pause is pause
    assert (pause.kind, pause.role, pause.callback) == (
        ErrorCode.WANT_CLIENT_HELLO_CB,
        Role.SERVER,
        "client_hello",
    )
    assert pause.hello is rec.seen[0]
    assert s.pause is pause
    assert result.steps[-1].step.error_code is ErrorCode.WANT_CLIENT_HELLO_CB
    assert result.steps[-1].step.pause is pause and not result.steps[-1].step.failed
    # Stepping before resuming pauses again, without calling Python.
    again = s.step()
    assert again.error_code is ErrorCode.WANT_CLIENT_HELLO_CB and len(rec.seen) == 1
    s.resume(accept=True)
    assert drive(c, s).ok
    assert len(rec.seen) == 1  # the answer was the resume's, not a second call
    assert s.pause is None


def test_resuming_a_pause_of_a_closed_connection_is_a_closed_error() -> None:
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)))
    pause = drive(c, s).paused
    assert pause is not None
    s.close()
    with pytest.raises(ClosedError, match="closed"):
        pause.resume(accept=True)
    assert not pause.resumed
    c.close()


@pytest.mark.parametrize(
    ("answer", "alert"),
    [({"reject": "access_denied"}, "access_denied"), ({"accept": False}, "handshake_failure")],
)
def test_a_paused_hello_resumed_with_a_refusal_fails_with_that_alert(
    answer: dict[str, Any], alert: str
) -> None:
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)))
    result = drive(c, s, on_pause=lambda p: p.resume(**answer))
    assert result.paused is None
    assert result.failed_side is Role.SERVER and isinstance(result.error, ProtocolError)
    assert result.client.alert_received == alert


def test_a_resume_without_answer_asks_the_callback_again() -> None:
    rec = Recorder(PAUSE, PAUSE, None)
    pauses: list[Any] = []

    def on_pause(p: Any) -> None:
        pauses.append(p)
        p.resume()

    result = handshake(*_pair(server(client_hello_callback=rec)), on_pause=on_pause)
    assert result.ok and len(rec.seen) == 3 and len(pauses) == 2
    assert rec.seen[0].random == rec.seen[2].random  # the same ClientHello each time


def test_a_paused_hello_resumed_with_a_context_switches_to_it() -> None:
    alt = server(certs.SNI_ALT)
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)), verify_host=False)
    result = handshake(c, s, on_pause=lambda p: p.resume(context=alt))
    assert result.client.peer_subject == "O=ossl-handshake tests,CN=alt.localhost"


def test_the_callback_or_its_resume_chooses_the_certificate() -> None:
    direct = handshake(*_pair(server(client_hello_callback=Recorder(certs.SERVER_RSA))))
    assert direct.client.peer_signature_algorithm == "RSASSA-PSS"
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)))
    resumed = handshake(
        c, s, on_pause=lambda p: p.resume(cert=certs.SERVER_RSA.cert, key=certs.SERVER_RSA.key)
    )
    assert resumed.client.peer_signature_algorithm == "RSASSA-PSS"
    plain = handshake(*_pair(server()))
    assert plain.client.peer_signature_algorithm == "id-ecPublicKey"


def test_do_handshake_raises_the_typed_pause_and_conn_resume_answers_it() -> None:
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)))
    with pytest.raises(WantReadError):  # the client waits for the server
        c.do_handshake()
    c.transfer_to(s)
    with pytest.raises(WantClientHelloError) as info:
        s.do_handshake()
    assert info.value.pause is s.pause and info.value.error_code.retryable
    s.resume()
    assert handshake(c, s).ok


def test_bad_answers_are_typed_errors() -> None:
    c, s = _pair(server(client_hello_callback=Recorder(PAUSE)))
    pause = drive(c, s).paused
    assert pause is not None
    with pytest.raises(TypeError):
        pause.resume(bogus=1)
    with pytest.raises(ValueError, match="unknown TLS alert"):
        pause.resume(reject="no_such_alert")
    with pytest.raises(TypeError):
        pause.resume(context=client())
    pause.resume()
    with pytest.raises(RuntimeError, match="already resumed"):
        pause.resume()
    with pytest.raises(RuntimeError, match="no pending pause"):
        c.resume()


def test_a_callback_that_raises_or_answers_nonsense_fails_cleanly() -> None:
    def boom(hello: ClientHello) -> None:
        raise RuntimeError("no")

    for fn, cause in ((boom, RuntimeError), (Recorder("yes"), TypeError)):
        c, s = _pair(server(client_hello_callback=fn))
        with pytest.raises(CallbackError) as info:
            drive(c, s)
        assert isinstance(info.value.__cause__, cause)
        assert s.failed is not None


def test_client_hello_callback_is_for_servers_and_refused_in_use() -> None:
    with pytest.raises(ValueError, match="server contexts"):
        Context(Role.CLIENT, client_hello_callback=lambda h: None)
    with pytest.raises(TypeError):
        server(client_hello_callback=42)
    ctx = server()
    c, s = _pair(ctx)
    from ossl_handshake import ContextInUseError

    with pytest.raises(ContextInUseError):
        ctx.set_client_hello_callback(Recorder())
    s.close()
    c.close()


def test_the_decoder_names_grease_and_refuses_malformed_extensions() -> None:
    assert is_grease(0x0A0A) and is_grease(0xFAFA) and not is_grease(0x0A0B)
    bad = ClientHello(0x0303, b"\0" * 32, b"", (), (), b"\0", ((10, b"\x00\x05\x00"),))
    with pytest.raises(ClientHelloDecodeError):
        bad.groups  # noqa: B018
    grease = ClientHello(
        0x0303, b"\0" * 32, b"", (), (), b"\0", ((10, b"\x00\x04\x1a\x1a\x00\x1d"),)
    )
    assert grease.group_names == ("GREASE", "x25519")


def test_over_a_socket_the_c_client_completes_after_our_server_resumes(
    tls_client_exe: Path,
) -> None:
    rec = Recorder(PAUSE)
    with serve_one(
        server(client_hello_callback=rec),
        c_client(tls_client_exe),
        PING_PONG,
    ) as peer:
        conn = peer.conn
        with pytest.raises(WantClientHelloError) as info:
            conn.do_handshake()
        assert info.value.pause.role is Role.SERVER
        assert rec.seen[0].server_name == "localhost"
        conn.resume(accept=True)
        conn.do_handshake()
        answer_ping(conn)
    rc, out, err = peer.result
    assert rc == 0, err
    assert out.startswith("OK TLSv1.3")


def test_over_a_socket_a_paused_hello_resumed_with_a_refusal_fails_the_c_client(
    tls_client_exe: Path,
) -> None:
    with serve_one(
        server(client_hello_callback=Recorder(PAUSE)),
        c_client(tls_client_exe),
    ) as peer:
        conn = peer.conn
        with pytest.raises(WantClientHelloError):
            conn.do_handshake()
        conn.resume(reject="access_denied")
        with pytest.raises(ProtocolError) as info:
            conn.do_handshake()
        assert info.value.alert_sent == "access_denied"
    rc, out, _ = peer.result
    assert rc == 2 and out.startswith("FAIL")
