"""``Options``: SSL_OP_* bits as an enum flag, and what a few of them change on the wire."""

from __future__ import annotations

import pytest

from ossl_handshake import (
    FEATURES,
    ConfigurationError,
    Connection,
    Options,
    ProtocolError,
    UnexpectedEOFError,
    WantReadError,
    ZeroReturnError,
    handshake,
    lib,
    memory_pair,
)
from tests._contexts import client, server
from tests._openssl import requires


def test_options_values_come_from_the_linked_openssl() -> None:
    assert Options.NO_TICKET == lib.SSL_OP_NO_TICKET
    assert Options.IGNORE_UNEXPECTED_EOF == lib.SSL_OP_IGNORE_UNEXPECTED_EOF
    assert Options.ENABLE_MIDDLEBOX_COMPAT == lib.SSL_OP_ENABLE_MIDDLEBOX_COMPAT
    assert Options.NO_RENEGOTIATION == lib.SSL_OP_NO_RENEGOTIATION


def test_context_options_set_clear_and_read_back() -> None:
    ctx = client(options=Options.NO_TICKET | Options.NO_RENEGOTIATION)
    assert Options.NO_TICKET in ctx.options and Options.NO_RENEGOTIATION in ctx.options
    assert isinstance(ctx.options, Options)
    after = ctx.clear_options(Options.NO_TICKET)
    assert Options.NO_TICKET not in after and Options.NO_TICKET not in ctx.options
    if FEATURES["ignore_unexpected_eof"]:
        assert Options.IGNORE_UNEXPECTED_EOF in ctx.set_options(Options.IGNORE_UNEXPECTED_EOF)
    else:  # 1.1.1: refused, not silently ignored
        with pytest.raises(ConfigurationError, match="not available"):
            ctx.set_options(Options.IGNORE_UNEXPECTED_EOF)


def test_no_tls13_option_caps_the_version() -> None:
    result = handshake(
        *memory_pair(client(options=Options.NO_TLSv1_3), server(), server_name="localhost")
    )
    assert result.client.version == result.server.version == "TLSv1.2"


def _client_sent_ccs(middlebox: bool) -> bool:
    ctx = client()
    if not middlebox:
        ctx.clear_options(Options.ENABLE_MIDDLEBOX_COMPAT)
    c, s = memory_pair(ctx, server(), server_name="localhost")
    types: list[int] = []
    c.on_message = lambda conn, sent, version, ctype, data: (
        types.append(ctype) if sent and ctype != lib.SSL3_RT_HEADER else None
    )
    handshake(c, s)
    return lib.SSL3_RT_CHANGE_CIPHER_SPEC in types


def test_middlebox_compat_decides_whether_tls13_sends_change_cipher_spec() -> None:
    assert Options.ENABLE_MIDDLEBOX_COMPAT in client().options  # OpenSSL's default
    assert _client_sent_ccs(middlebox=True)
    assert not _client_sent_ccs(middlebox=False)


def test_per_connection_options_add_to_the_context_ones() -> None:
    c = Connection(client(), server_name="localhost", options=Options.NO_TLSv1_3)
    s = Connection(server())
    assert handshake(c, s).client.version == "TLSv1.2"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (Options.NONE, UnexpectedEOFError),
        pytest.param(
            Options.IGNORE_UNEXPECTED_EOF,
            ZeroReturnError,
            marks=requires("ignore_unexpected_eof"),
        ),
    ],
    ids=["strict", "ignore-unexpected-eof"],
)
def test_ignore_unexpected_eof_turns_eof_into_zero_return(
    options: Options, expected: type[Exception]
) -> None:
    c, s = memory_pair(client(options=options), server(), server_name="localhost")
    handshake(c, s)
    s.bio_shutdown_wr()  # the server's side of the transport closes without close_notify
    c.bio_shutdown_wr()
    with pytest.raises(expected):
        c.read()


def test_no_renegotiation_answers_a_tls12_renegotiation_with_an_alert() -> None:
    ctx = server(options=Options.NO_RENEGOTIATION, max_version="1.2")
    c, s = memory_pair(client(), ctx, server_name="localhost")
    handshake(c, s)
    assert lib.SSL_renegotiate(c.ptr) == 1
    assert c.step().error_code.name == "WANT_READ"  # the new ClientHello is out
    c.transfer_to(s)
    with pytest.raises(WantReadError):
        s.read()  # the server refuses with a warning alert and carries on
    assert s.alert_sent == "no_renegotiation"
    s.transfer_to(c)
    step = c.step()
    assert isinstance(step.error, ProtocolError)
    assert c.alert_received == "no_renegotiation"
    assert step.error.reasons == ["no renegotiation"]
