"""Connect and accept BIOs: OpenSSL makes the TCP connection itself.

``BIO_s_connect`` resolves and connects to ``host:port`` on the SSL's first
write, ``BIO_s_accept`` listens and accepts on its first read
(BIO_s_connect(3), BIO_s_accept(3)). Both are non-blocking here
(``BIO_set_nbio``, ``BIO_set_nbio_accept``): while the connect has not
completed, or no client is waiting to be accepted, the handshake call returns
``SSL_ERROR_WANT_CONNECT`` / ``SSL_ERROR_WANT_ACCEPT`` (the BIO's retry reason
``BIO_RR_CONNECT`` / ``BIO_RR_ACCEPT``), and the caller waits on :attr:`fd`
(writable for a connect, readable for an accept) and calls again.

The SSL owns the BIO (``SSL_set_bio``) and frees it, and its socket, in
``SSL_free``; the transport only remembers it to read its fds, each read
under the connection's guard (a closed connection raises ``ClosedError``).
"""

from __future__ import annotations

from typing import Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.errors import SSLError, drain
from ossl_handshake.core.guard import Guard
from ossl_handshake.core.inputs import c_int, c_string
from ossl_handshake.core.transports import Transport

_NULL = ffi.NULL


def _host_port(host: str, port: int) -> bytes:
    name = c_string(host, "host")
    number = c_int(port, "port", 0, 65535)
    if b":" in name:  # an IPv6 literal: BIO_parse_hostserv wants it bracketed
        name = b"[" + name.strip(b"[]") + b"]"
    return name + b":" + str(number).encode()


class _SocketBIOTransport(Transport):
    """A socket BIO the SSL owns (``SSL_set_bio``); its fds are read under the guard."""

    bio: Any
    _guard: Guard

    def _attach(self, ssl: Any, guard: Guard, bio: Any, failed: str, operation: str) -> None:
        if bio == _NULL:
            raise SSLError(failed, errors=drain(), operation=operation)
        lib.SSL_set_bio(ssl, bio, bio)
        self.bio = bio
        self._guard = guard

    @property
    def fd(self) -> int:
        """The BIO's socket fd (``BIO_get_fd``): a connect BIO's connected socket
        (-1 before it created it), an accept BIO's listening one."""
        return int(self._guard.read(lambda _ssl: lib.ossl_bio_fd(self.bio)))

    def release(self) -> None:
        self.bio = _NULL  # SSL_free frees it


class ConnectBIOTransport(_SocketBIOTransport):
    """``BIO_new_connect(host:port)`` with ``BIO_set_nbio(1)``, set as the SSL's BIO."""

    kind = "connect-bio"

    def __init__(self, ssl: Any, guard: Guard, host: str, port: int) -> None:
        target = _host_port(host, port)
        if port == 0:
            raise ValueError("port must be 1..65535 for a connect BIO")
        self.target = target.decode()
        self._attach(
            ssl,
            guard,
            lib.ossl_bio_connect_new(target),
            f"cannot make a connect BIO for {self.target}",
            "BIO_new_connect",
        )

    def describe(self) -> str:
        return f"a connect BIO to {self.target}"


class AcceptBIOTransport(_SocketBIOTransport):
    """``BIO_new_accept(host:port)``, non-blocking, listening, set as the SSL's BIO.

    The listening socket is bound at once (the first ``BIO_do_accept``), so
    :attr:`port` is known before the handshake; the SSL's first read accepts
    one connection and then runs on it.
    """

    kind = "accept-bio"

    def __init__(self, ssl: Any, guard: Guard, host: str, port: int) -> None:
        target = _host_port(host, port)
        self._attach(
            ssl,
            guard,
            lib.ossl_bio_accept_new(target),
            f"cannot listen on {target.decode()} with an accept BIO",
            "BIO_do_accept",
        )
        self.port = int(lib.ossl_bio_accept_port(self.bio))

    @property
    def accepted_fd(self) -> int:
        """The accepted connection's fd, -1 before a client was accepted."""
        return int(self._guard.read(lambda _ssl: lib.ossl_bio_accepted_fd(self.bio)))

    def describe(self) -> str:
        return f"an accept BIO on port {self.port}"
