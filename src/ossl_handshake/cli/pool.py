"""The server's fixed pool of worker threads: each accepts a connection, serves it, repeats.

``ossl-handshake server --workers N`` starts N threads once. A free worker
takes the *accept turn* (a lock), waits in ``accept(2)`` on the listening
socket, gives the turn up as soon as a client is accepted and serves that
client on its own thread. So at most N connections are served at once and
further clients wait in the listen backlog, connections are numbered in the
order they were accepted, and an accept that fails (``--timeout``) is
reported once and stops the pool.

Why not a thread per connection, or an acceptor handing sockets to a
queue: the accepted socket is served by the thread that was already waiting
for it, so nothing is started or woken between ``accept`` returning and the
first ``SSL_do_handshake``. Starting a thread per connection cost a median
0.7 ms (p90 4 ms, waiting for the GIL) on the client's critical path, under
``openssl s_time -new`` that is a sixth of a whole connection (5.4 ms).
"""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Callable

#: ``serve(sock, index, addr)``: handle one accepted connection (and close it).
Serve = Callable[[socket.socket, int, tuple[str, int]], None]
#: ``failed(index, exc)``: the accept of connection ``index`` failed; the pool stops.
Failed = Callable[[int, OSError], None]
#: ``crashed(index, exc)``: ``serve`` raised; the worker goes on with the next client.
Crashed = Callable[[int, Exception], None]


class AcceptPool:
    """``workers`` threads serving up to ``accept`` connections (0: until the process ends)."""

    def __init__(
        self,
        lsock: socket.socket,
        *,
        accept: int,
        workers: int,
        serve: Serve,
        failed: Failed,
        crashed: Crashed,
    ) -> None:
        if workers < 1 or accept < 0:
            raise ValueError("need workers >= 1 and accept >= 0")
        self._lsock = lsock
        self._accept = accept
        self._workers = workers if accept == 0 else min(workers, accept)
        self._serve = serve
        self._failed = failed
        self._crashed = crashed
        self._turn = threading.Lock()
        self._next = 0
        self._stopped = False

    def run(self) -> None:
        """Start the workers and wait until all of them are done."""
        threads = [
            threading.Thread(target=self._work, name=f"worker-{n}", daemon=True)
            for n in range(self._workers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _take(self) -> tuple[socket.socket, int, tuple[str, int]] | None:
        """The next client and its index, or None when the pool is done."""
        with self._turn:
            if self._stopped or (self._accept and self._next >= self._accept):
                return None
            index = self._next
            try:
                sock, addr = self._lsock.accept()
            except OSError as exc:  # includes TimeoutError
                self._stopped = True
                self._failed(index, exc)
                return None
            self._next += 1
        return sock, index, addr

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            sock, index, addr = taken
            try:
                self._serve(sock, index, addr)
            except Exception as exc:  # reported; the worker stays in the pool
                traceback.print_exc()
                self._crashed(index, exc)
