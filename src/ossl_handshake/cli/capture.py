"""``--pcapng`` for ``server`` and ``client``: the connection's exact bytes, captured.

libssl reads and writes a socket connection's records itself, so Python
never sees the ciphertext. For a capture, the :class:`Connection` runs on one
end of a local ``socketpair`` and a relay thread copies bytes between its
other end and the real TCP socket, recording each chunk as a flight
(:meth:`Trace.on_transfer`). The relay passes half-closes through both ways
(a FIN becomes ``shutdown(SHUT_WR)`` on the other side) and reads the TCP
side to its end before closing it, so closing still does not reset the
peer. A reset from the peer reaches the connection as EOF: the capture mode
trades that one distinction for the bytes.

The key log lines of each connection go to its own trace (the callback runs
on the connection's thread, inside its handshake), and from there into the
pcapng's Decryption Secrets Block: Wireshark decrypts the file as is.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from ossl_handshake.core.keylog import AppendLines
from ossl_handshake.observe.trace import Trace
from ossl_handshake.tls.roles import Role

#: How long the relay keeps reading the peer after our side closed.
LINGER_SECONDS = 1.0

_current = threading.local()


def keylog_dispatch(path: str | None) -> Callable[[str], None]:
    """A key log target: each line to ``path`` (appended) and to this thread's trace."""
    to_file = AppendLines(path) if path else None

    def line(text: str) -> None:
        if to_file is not None:
            to_file(text)
        trace: Trace | None = getattr(_current, "trace", None)
        if trace is not None:
            trace.keylog_line(text)

    return line


def capture_path(template: str, index: int) -> Path:
    """``--pcapng FILE`` for connection ``index``: FILE itself for 0, ``stem-N.suffix`` after."""
    p = Path(template)
    return p if index == 0 else p.with_name(f"{p.stem}-{index}{p.suffix}")


class CaptureRelay:
    """Copy bytes between ``outer`` (TCP) and :attr:`inner` (the connection's), recording them.

    ``side`` is our role: bytes from ``outer`` are the peer's flights.
    """

    def __init__(
        self, outer: socket.socket, trace: Trace, side: Role, timeout: float = 10.0
    ) -> None:
        self.outer = outer
        self.trace = trace
        self.side = side
        self.peer = Role.SERVER if side is Role.CLIENT else Role.CLIENT
        self.inner, self._end = socket.socketpair()
        # Timeouts, not non-blocking: recv runs only after poll said readable,
        # and sendall then waits for room instead of failing half-way.
        outer.settimeout(timeout)
        self._end.settimeout(timeout)
        self._thread = threading.Thread(target=self._run, name="capture-relay", daemon=True)
        _current.trace = trace
        self._thread.start()

    def _run(self) -> None:
        open_from = {self.outer.fileno(): True, self._end.fileno(): True}
        poller = select.poll()
        for fd in open_from:
            poller.register(fd, select.POLLIN)
        linger: float | None = None
        while any(open_from.values()):
            events = poller.poll(50)
            if not events:
                if linger is not None:
                    linger -= 0.05
                    if linger <= 0:
                        return
                continue
            for fd, _ in events:
                src, dst, role = (
                    (self.outer, self._end, self.peer)
                    if fd == self.outer.fileno()
                    else (self._end, self.outer, self.side)
                )
                try:
                    data = src.recv(65536)
                except OSError:  # reset, or the watchdog shut the socket down
                    data = b""
                if data:
                    self.trace.on_transfer(role, data)
                    with contextlib.suppress(OSError):
                        dst.sendall(data)
                    continue
                open_from[fd] = False
                poller.unregister(fd)
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                if src is self._end:
                    linger = LINGER_SECONDS  # our side is done: the peer gets a bounded while

    def join(self) -> None:
        """Wait for the relay to finish (bounded): after it, the trace holds every flight."""
        self._thread.join(LINGER_SECONDS + 1.0)
        _current.trace = None

    def close(self) -> None:
        """Close both socketpair ends; only after the connection on :attr:`inner` is closed
        (libssl holds its file descriptor until then)."""
        self.join()
        for s in (self.inner, self._end):
            with contextlib.suppress(OSError):
                s.close()


__all__ = ["CaptureRelay", "capture_path", "keylog_dispatch"]
