"""Hostile callers: every misuse gets a clear, typed Python exception, never a crash.

The table below is the one in docs/reliability.md ("call → exception").
What cannot be detected is documented there too: a freed ``SSL *`` or an
integer that happens to be a mapped, aligned address is undefined behaviour
in :meth:`Connection.adopt`, as it would be in C; the detectable cases (NULL,
0, negative, out of range, misaligned, the wrong cdata type, our own closed
connection's pointer) are refused here.

Run ``python tests/test_hostile_callers.py`` to print the table as markdown.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ossl_handshake import (
    Connection,
    Context,
    ProtocolError,
    Role,
    Session,
    WantReadError,
    certs,
    ffi,
    handshake,
    join,
    memory_pair,
)
from ossl_handshake.core.errors import ConfigurationError

pytestmark = pytest.mark.timeout(60)

_CLIENT = Context(Role.CLIENT, cafile=certs.CA)
_SERVER = Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)
_keep: list[Any] = []  # objects a case's pointer refers to stay alive until the end


def _fresh() -> tuple[Connection, Connection]:
    pair = memory_pair(_CLIENT, _SERVER, server_name="localhost")
    _keep.append(pair)
    return pair


def _done() -> tuple[Connection, Connection]:
    c, s = _fresh()
    handshake(c, s)
    return c, s


def _closed_conn() -> Connection:
    c, _ = _fresh()
    c.close()
    return c


def _closed_ctx() -> Context:
    ctx = Context(Role.CLIENT)
    ctx.close()
    return ctx


def _closed_sock() -> socket.socket:
    s = socket.socket()
    s.close()
    return s


@dataclass(frozen=True)
class Case:
    call: str
    fn: Callable[[], object]
    exc: type[BaseException]
    match: str = ""


CASES: list[Case] = [
    # -- contexts
    Case("Context('bogus')", lambda: Context("bogus"), ValueError, "not a valid Role"),
    Case("Context(Role.SERVER, cert=123)", lambda: Context(Role.SERVER, cert=123), TypeError),
    Case(
        "Context(cert='/nonexistent.pem')",
        lambda: Context(Role.SERVER, cert="/nonexistent.pem"),
        FileNotFoundError,
    ),
    Case(
        "Context(cert=<not a certificate>)",
        lambda: Context(Role.SERVER, cert=certs.NOT_A_CERT, key=certs.SERVER_ECDSA.key),
        ConfigurationError,
    ),
    Case(
        "Context(key=<key of another cert>)",
        lambda: Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.MISMATCHED_KEY),
        ConfigurationError,
        "does not match",
    ),
    Case("Context(min_version='9.9')", lambda: Context(min_version="9.9"), ValueError),
    Case("Context(min_version=-1)", lambda: Context(min_version=-1), ValueError),
    Case("Context(alpn='h2')  # one string", lambda: Context(alpn="h2"), TypeError),
    Case("Context(alpn=['x' * 300])", lambda: Context(alpn=["x" * 300]), ValueError),
    Case("Context(ciphers='NOPE')", lambda: Context(ciphers="NOPE"), ConfigurationError),
    Case("Context(groups='nope')", lambda: Context(groups="nope"), ConfigurationError),
    Case("Context(security_level=-1)", lambda: Context(security_level=-1), ValueError),
    Case(
        "Context(Role.SERVER, num_tickets=-1)",
        lambda: Context(Role.SERVER, num_tickets=-1),
        ValueError,
    ),
    Case("Context(verify_callback=5)", lambda: Context(verify_callback=5), TypeError, "callable"),
    Case("Context.adopt(0, 'client')", lambda: Context.adopt(0, "client"), ValueError, "NULL"),
    Case("Context.adopt(None, 'client')", lambda: Context.adopt(None, "client"), TypeError),
    Case(
        "Context.adopt(conn.ptr, 'client')  # an SSL *",
        lambda: Context.adopt(_fresh()[0].ptr, "client"),
        TypeError,
        "expected SSL_CTX",
    ),
    Case(
        "Context.adopt(closed_ctx.ptr, ...)",
        lambda: Context.adopt(_closed_ctx().ptr, "client"),
        ValueError,
        "closed",
    ),
    # -- connections
    Case("Connection(None)", lambda: Connection(None), TypeError),  # type: ignore[arg-type]
    Case("Connection(closed_ctx)", lambda: Connection(_closed_ctx()), ValueError, "closed"),
    Case("Connection(ctx, 'bogus')", lambda: Connection(_CLIENT, "bogus"), ValueError),
    Case(
        "Connection(ctx, server_name=123)",
        lambda: Connection(_CLIENT, server_name=123),  # type: ignore[arg-type]
        TypeError,
    ),
    Case(
        "Connection(ctx, server_name='')", lambda: Connection(_CLIENT, server_name=""), ValueError
    ),
    Case(
        "Connection(ctx, server_name='a\\x00b')",
        lambda: Connection(_CLIENT, server_name="a\x00b"),
        ValueError,
        "NUL",
    ),
    Case(
        "Connection(ctx, server_name='x' * 300)",
        lambda: Connection(_CLIENT, server_name="x" * 300),
        UnicodeError,
    ),
    Case("Connection(ctx, bio_size=-1)", lambda: Connection(_CLIENT, bio_size=-1), ValueError),
    Case(
        "Connection(ctx, bio_size=2**40)", lambda: Connection(_CLIENT, bio_size=2**40), ValueError
    ),
    Case(
        "Connection(ctx, sock='x')",
        lambda: Connection(_CLIENT, sock="x"),  # type: ignore[arg-type]
        TypeError,
    ),
    Case(
        "Connection(ctx, sock=<closed socket>)",
        lambda: Connection(_CLIENT, sock=_closed_sock()),
        ValueError,
        "closed",
    ),
    Case(
        "Connection(ctx, session='x')",
        lambda: Connection(_CLIENT, session="x"),  # type: ignore[arg-type]
        TypeError,
    ),
    Case("Connection(ctx, options=-1)", lambda: Connection(_CLIENT, options=-1), OverflowError),
    Case("conn.bio_write(None)", lambda: _fresh()[0].bio_write(None), TypeError),  # type: ignore[arg-type]
    Case("conn.bio_write('text')", lambda: _fresh()[0].bio_write("text"), TypeError),  # type: ignore[arg-type]
    Case("conn.bio_read('3')", lambda: _fresh()[0].bio_read("3"), TypeError),  # type: ignore[arg-type]
    Case("conn.read(0)", lambda: _done()[0].read(0), ValueError),
    Case("conn.read(-1)", lambda: _done()[0].read(-1), ValueError),
    Case("conn.read('x')", lambda: _done()[0].read("x"), TypeError),  # type: ignore[arg-type]
    Case("conn.read(2**70)  # nothing sent", lambda: _done()[0].read(2**70), WantReadError),
    Case("conn.read() before the handshake", lambda: _fresh()[0].read(), WantReadError),
    Case("conn.write(None)", lambda: _done()[0].write(None), TypeError),  # type: ignore[arg-type]
    Case("conn.write('text')", lambda: _done()[0].write("text"), TypeError),  # type: ignore[arg-type]
    Case("conn.shutdown() before the handshake", lambda: _fresh()[0].shutdown(), ProtocolError),
    Case("conn.key_update() before the handshake", lambda: _fresh()[0].key_update(), ProtocolError),
    Case("conn.on_info = 5", lambda: setattr(_fresh()[0], "on_info", 5), TypeError),
    Case("conn.on_message = 'x'", lambda: setattr(_fresh()[0], "on_message", "x"), TypeError),
    Case("conn.set_session('x')", lambda: _fresh()[0].set_session("x"), TypeError),  # type: ignore[arg-type]
    Case("closed.step()", lambda: _closed_conn().step(), ValueError, "closed"),
    Case("closed.ptr", lambda: _closed_conn().ptr, ValueError, "closed"),
    Case("closed.version", lambda: _closed_conn().version, ValueError, "closed"),
    Case("closed.bio_read()", lambda: _closed_conn().bio_read(), ValueError, "closed"),
    Case("closed.read()", lambda: _closed_conn().read(), ValueError, "closed"),
    Case("conn.transfer_to(None)", lambda: _fresh()[0].transfer_to(None), TypeError),  # type: ignore[arg-type]
    Case(
        "conn.transfer_to(conn)",
        lambda: (lambda c: c.transfer_to(c))(_fresh()[0]),
        ValueError,
        "itself",
    ),
    Case("conn.transfer_to(closed)", lambda: _fresh()[0].transfer_to(_closed_conn()), ValueError),
    Case("join(conn, 'x')", lambda: join(_fresh()[0], "x"), TypeError),  # type: ignore[arg-type]
    # -- pairs and the driver
    Case("memory_pair(None, None)", lambda: memory_pair(None, None), TypeError),  # type: ignore[arg-type]
    Case(
        "handshake(client, client)  # the same object",
        lambda: (lambda c: handshake(c, c))(_fresh()[0]),
        ValueError,
        "same one",
    ),
    Case(
        "handshake(server, client)  # swapped",
        lambda: (lambda p: handshake(p[1], p[0]))(_fresh()),
        ValueError,
        "client first",
    ),
    Case(
        "handshake(closed, server)",
        lambda: handshake(_closed_conn(), _fresh()[1]),
        ValueError,
        "closed",
    ),
    # -- sessions
    Case("Session.from_der(b'junk')", lambda: Session.from_der(b"junk"), ValueError),
    Case("Session.from_der(None)", lambda: Session.from_der(None), TypeError),  # type: ignore[arg-type]
    Case("Session(ffi.NULL)", lambda: Session(ffi.NULL), ValueError, "NULL"),
    # -- adopting pointers: the detectable cases
    Case("Connection.adopt(None)", lambda: Connection.adopt(None), TypeError),
    Case("Connection.adopt(0)", lambda: Connection.adopt(0), ValueError, "NULL"),
    Case("Connection.adopt(ffi.NULL)", lambda: Connection.adopt(ffi.NULL), ValueError, "NULL"),
    Case("Connection.adopt(-1)", lambda: Connection.adopt(-1), ValueError, "not a valid"),
    Case("Connection.adopt(8)  # the NULL page", lambda: Connection.adopt(8), ValueError),
    Case("Connection.adopt(2**70)", lambda: Connection.adopt(2**70), ValueError, "not a valid"),
    Case("Connection.adopt(0x10001)  # misaligned", lambda: Connection.adopt(0x10001), ValueError),
    Case("Connection.adopt('x')", lambda: Connection.adopt("x"), TypeError),
    Case("Connection.adopt(1.5)", lambda: Connection.adopt(1.5), TypeError),
    Case(
        "Connection.adopt(ctx.ptr)  # an SSL_CTX *",
        lambda: Connection.adopt(_CLIENT.ptr),
        TypeError,
        "expected SSL",
    ),
    Case(
        "Connection.adopt(closed_conn.ptr)",
        lambda: Connection.adopt(_closed_conn().ptr),
        ValueError,
        "closed",
    ),
    Case(
        "Connection.adopt(live_conn.ptr)",
        lambda: Connection.adopt(_fresh()[0].ptr),
        ValueError,
        "already belongs",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.call for c in CASES])
def test_hostile_call_raises_a_clear_typed_exception(case: Case) -> None:
    with pytest.raises(case.exc, match=case.match or None) as info:
        case.fn()
    assert str(info.value), f"{case.call}: the exception has no message"


def test_step_after_a_failed_handshake_repeats_the_same_failure() -> None:
    client, server = memory_pair(_CLIENT, _SERVER, server_name="wrong.example")
    with client, server:
        result = handshake(client, server, check=False)
        assert result.error is not None
        failed = client.step()
        for _ in range(3):
            assert client.step() is failed
        with pytest.raises(type(result.error)):
            handshake(client, server)  # driving it again re-raises, never hangs


def test_driving_a_finished_pair_again_is_a_no_op_not_a_second_handshake() -> None:
    # libssl has no "restart" for a finished SSL (SSL_clear is not exposed):
    # a second handshake needs new Connection objects.
    client, server = memory_pair(_CLIENT, _SERVER, server_name="localhost")
    with client, server:
        first = handshake(client, server)
        again = handshake(client, server)
        assert again.ok and again.steps == [] and len(first.steps) > 0
        assert again.client.version == first.client.version
        assert client.step().done  # SSL_do_handshake on a finished SSL returns 1


def test_huge_writes_and_reads_are_bounded_by_the_bio_pair() -> None:
    client, server = memory_pair(_CLIENT, _SERVER, server_name="localhost")
    with client, server:
        assert server.bio_write(b"\x16" * 50_000_000) <= 17 * 1024  # takes what fits
        assert client.bio_read(2**70) == b""
        assert client.bio_read(-5) == b""


def test_closing_twice_and_using_context_managers_after_close_are_harmless() -> None:
    client, server = memory_pair(_CLIENT, _SERVER, server_name="localhost")
    client.close()
    client.close()
    with client:
        pass
    assert repr(client).endswith("closed>")
    server.close()


def _markdown_table() -> str:
    lines = ["| call | exception |", "|---|---|"]
    for case in CASES:
        try:
            case.fn()
            got = "(no exception!)"
        except BaseException as exc:
            msg = str(exc).splitlines()[0][:70].replace("|", "\\|")
            got = f"`{type(exc).__name__}`: {msg}"
        lines.append(f"| `{case.call}` | {got} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(_markdown_table())
