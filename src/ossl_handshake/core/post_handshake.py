"""After the first handshake: renegotiation (TLS ≤ 1.2), PHA and key update (TLS 1.3).

The logic behind the ``# --- beyond the first handshake ---`` block of
:class:`~ossl_handshake.Connection` and the ``renegotiation=`` /
``post_handshake_auth=`` keywords of :class:`~ossl_handshake.Context`.
Requesting one of these only queues it; the messages go out at the next
``SSL_do_handshake`` / ``SSL_write`` and the peer processes them inside
``SSL_read`` (:func:`read_step`), which is how the pair driver's
:func:`~ossl_handshake.pair.driver.renegotiate`,
:func:`~ossl_handshake.pair.driver.post_handshake_auth` and
:func:`~ossl_handshake.pair.driver.update_keys` complete them.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import FEATURES, ffi, lib
from ossl_handshake.core.constants import Options
from ossl_handshake.core.errors import ConfigurationError, SSLError, ensure
from ossl_handshake.core.step import Step, step_from

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection


class KeyUpdate(enum.IntEnum):
    """``SSL_get_key_update_type``: the KeyUpdate queued and not yet sent."""

    NONE = lib.SSL_KEY_UPDATE_NONE
    NOT_REQUESTED = lib.SSL_KEY_UPDATE_NOT_REQUESTED
    REQUESTED = lib.SSL_KEY_UPDATE_REQUESTED


class Renegotiation(str, enum.Enum):
    """The ``renegotiation=`` policy of a :class:`~ossl_handshake.Context` (TLS ≤ 1.2).

    - ``REFUSE``: ``SSL_OP_NO_RENEGOTIATION``. A server answers a client's
      renegotiation ClientHello with a ``no_renegotiation`` warning alert (the
      client's renegotiation then fails); a client answers a HelloRequest the
      same way; ``renegotiate()`` on this side fails. Every version.
    - ``SERVER``: renegotiation only when the server starts it (HelloRequest);
      client-initiated is refused with ``no_renegotiation``. OpenSSL 3.0+:
      ``SSL_OP_ALLOW_CLIENT_RENEGOTIATION`` cleared (3.0's default). 1.1.1
      cannot refuse one without the other: a :class:`ConfigurationError`.
    - ``CLIENT``: both directions, client-initiated included: 3.0+ sets
      ``SSL_OP_ALLOW_CLIENT_RENEGOTIATION``; on 1.1.1 this is the default
      (no option).
    - ``UNSAFE_LEGACY``: ``CLIENT`` plus ``SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION``
      (renegotiate with peers without RFC 5746 secure renegotiation: CVE-2009-3555).
    """

    REFUSE = "refuse"
    SERVER = "server"
    CLIENT = "client"
    UNSAFE_LEGACY = "unsafe_legacy"


_ALL_RENEG = (
    Options.NO_RENEGOTIATION
    | Options.ALLOW_CLIENT_RENEGOTIATION
    | Options.ALLOW_UNSAFE_LEGACY_RENEGOTIATION
)


def renegotiation_options(policy: Renegotiation | str) -> tuple[Options, Options]:
    """``(set, clear)`` option bits for a :class:`Renegotiation` policy (see there)."""
    try:
        p = Renegotiation(policy)
    except ValueError:
        names = ", ".join(repr(r.value) for r in Renegotiation)
        raise ValueError(f"renegotiation must be one of {names}, not {policy!r}") from None
    have_allow = FEATURES["client_renegotiation_option"]
    if p is Renegotiation.REFUSE:
        bits = Options.NO_RENEGOTIATION
    elif p is Renegotiation.SERVER:
        if not have_allow:
            raise ConfigurationError(
                "renegotiation='server' needs SSL_OP_ALLOW_CLIENT_RENEGOTIATION (OpenSSL 3.0): "
                "OpenSSL 1.1.1 cannot refuse client-initiated renegotiation alone",
                operation="SSL_CTX_set_options",
            )
        bits = Options.NONE
    else:
        bits = Options.ALLOW_CLIENT_RENEGOTIATION if have_allow else Options.NONE
        if p is Renegotiation.UNSAFE_LEGACY:
            bits |= Options.ALLOW_UNSAFE_LEGACY_RENEGOTIATION
    clear = _ALL_RENEG & ~bits
    if not have_allow:
        clear &= ~Options.ALLOW_CLIENT_RENEGOTIATION
    return bits, clear


def renegotiate(conn: Connection, *, abbreviated: bool = False) -> None:
    """``SSL_renegotiate`` (or ``SSL_renegotiate_abbreviated``: resume the session).

    Only schedules it: the next ``SSL_do_handshake`` sends the ClientHello
    (client) or HelloRequest (server). Fails for TLS 1.3 ("wrong ssl
    version") and when ``SSL_OP_NO_RENEGOTIATION`` is set.
    """
    fn = lib.SSL_renegotiate_abbreviated if abbreviated else lib.SSL_renegotiate
    name = "SSL_renegotiate_abbreviated" if abbreviated else "SSL_renegotiate"
    conn._guard.run(lambda ssl: ensure(fn, ssl, raising=SSLError, operation=name))


def verify_client_post_handshake(conn: Connection) -> None:
    """``SSL_verify_client_post_handshake`` (server, TLS 1.3): queue a CertificateRequest.

    It goes out with the next ``SSL_do_handshake``/``SSL_write``; the
    client's Certificate, CertificateVerify and Finished are processed by a
    later ``SSL_read`` on the server. Fails unless the client sent the
    ``post_handshake_auth`` extension (``Context(post_handshake_auth=True)``)
    and the connection is an established TLS 1.3 one.
    """
    conn._guard.run(
        lambda ssl: ensure(
            lib.SSL_verify_client_post_handshake,
            ssl,
            raising=SSLError,
            operation="SSL_verify_client_post_handshake",
        )
    )


def read_step(conn: Connection) -> Step:
    """One ``SSL_peek_ex`` of one byte, reported as a :class:`Step` (never raises for TLS).

    This is how a side that is not in a handshake processes its peer's
    post-handshake messages (HelloRequest, a renegotiation ClientHello,
    CertificateRequest, KeyUpdate, NewSessionTicket): libssl handles them
    inside the read and answers them in the same call. ``WANT_READ`` is the
    normal outcome; application data left unread is not consumed.
    """

    def once(ssl: Any) -> Step:
        buf = ffi.new("char[1]")
        res = conn._call_locked(ssl, lib.ossl_peek, buf, 1)
        return step_from(
            conn.role, res, conn._state.alert_sent, conn._state.alert_received, "SSL_peek_ex"
        )

    return conn._guard.run(once)
