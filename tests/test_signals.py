"""Interrupting a blocking socket handshake: timeouts and Ctrl-C.

A socket with a timeout is driven non-blocking with ``poll`` (docs/architecture.md,
rule 10), so a silent peer ends in ``TimeoutError`` and a SIGINT arriving while we
wait interrupts ``poll`` and surfaces as ``KeyboardInterrupt`` right away. The
SIGINT cases run in a child process that reports when it is waiting; the
parent interrupts it and reads how it ended. No wall-clock assertion: the
bounds are the subprocess and pytest timeouts.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from ossl_handshake import Connection, Context

pytestmark = pytest.mark.timeout(30)

CHILD = textwrap.dedent(
    """
    import signal, socket, sys, time
    from ossl_handshake import Connection, Context, Role, certs

    # A shell that starts jobs in the background (CI runners do) leaves SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    mode = sys.argv[1]
    listener = socket.create_server(("127.0.0.1", 0))
    sock = socket.create_connection(listener.getsockname())
    peer, _ = listener.accept()  # accepted and never answered: a silent server
    if mode == "timeout":
        sock.settimeout(30)
    conn = Connection(Context(Role.CLIENT, cafile=certs.CA), sock=sock, server_name="localhost")
    print("waiting", flush=True)
    start = time.monotonic()
    try:
        conn.do_handshake()
    except KeyboardInterrupt:
        print(f"KeyboardInterrupt after {time.monotonic() - start:.3f} s", flush=True)
        sys.exit(3)
    except BaseException as exc:
        print(f"other: {exc!r}", flush=True)
        sys.exit(4)
    print("finished?!", flush=True)
    sys.exit(5)
    """
)


def _interrupt(mode: str) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "waiting", (line, proc.stderr.read() if proc.stderr else "")
        time.sleep(0.5)  # let it reach poll()/recv(); earlier must work too
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out + err


def test_sigint_during_a_handshake_with_a_timeout_raises_keyboardinterrupt_promptly() -> None:
    rc, out = _interrupt("timeout")
    print(out.strip())
    assert rc == 3, out  # long before the child's own 30 s timeout or ours (20 s)
    assert "KeyboardInterrupt after" in out


def test_sigint_during_a_fully_blocking_handshake_raises_keyboardinterrupt() -> None:
    # Blocking socket: libssl sits in recv() without the GIL; the signal makes
    # recv fail with EINTR, OpenSSL returns, and Python runs the handler.
    rc, out = _interrupt("blocking")
    print(out.strip())
    assert rc == 3, out
    assert "KeyboardInterrupt after" in out


def test_blocking_handshake_against_a_silent_peer_times_out(ossl_client_context: Context) -> None:
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(0.3)
        client = Connection(ossl_client_context, sock=a, server_name="localhost")
        with client, pytest.raises(TimeoutError, match="timed out"):
            client.do_handshake()
        assert b.recv(5)[:1] == b"\x16"  # the ClientHello did go out before the wait
