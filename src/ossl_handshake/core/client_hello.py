"""The ClientHello callback (``SSL_CTX_set_client_hello_cb``): inspect, switch, reject, pause.

libssl calls it on a server right after it parsed a ClientHello, before
anything else looks at it (SSL_CTX_set_client_hello_cb(3)). The
``SSL_client_hello_get0_*`` pointers are valid only during the call, so
:func:`read_client_hello` copies every field into a
:class:`~ossl_handshake.tls.client_hello.ClientHello` there and nothing keeps
a pointer. The Python callable ``fn(hello)`` answers:

- ``None`` or ``True``: go on (``SSL_CLIENT_HELLO_SUCCESS``);
- a server :class:`~ossl_handshake.Context`: switch the connection to it
  (``SSL_set_SSL_CTX``, the servername callback's code path) and go on;
- a certificate (an :class:`~ossl_handshake.certs.Identity` or a ``(cert,
  key)`` pair of PEM paths): use it for this connection only
  (``SSL_certs_clear``, ``SSL_use_certificate_chain_file``,
  ``SSL_use_PrivateKey_file``) and go on;
- a :class:`Reject` (``Reject("access_denied")``) or ``False``
  (``handshake_failure``): fail with that alert (``SSL_CLIENT_HELLO_ERROR``);
- :data:`~ossl_handshake.core.pauses.PAUSE`: ``SSL_CLIENT_HELLO_RETRY``; the
  step returns ``WANT_CLIENT_HELLO_CB`` with a :class:`ClientHelloPause`.

An exception fails the handshake (``internal_error``) and is re-raised as
:class:`~ossl_handshake.CallbackError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core import pauses
from ossl_handshake.core.callbacks import hook_of, park, switch_context
from ossl_handshake.core.cert_callbacks import cert_paths, use_files
from ossl_handshake.core.errors import ErrorCode
from ossl_handshake.tls.client_hello import ClientHello
from ossl_handshake.tls.names import ALERT_CODES

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection
    from ossl_handshake.core.context import Context

#: ``(hello) -> None | bool | Context | Reject | PAUSE``.
ClientHelloCallback = Callable[[ClientHello], Any]

__all__ = ["ClientHelloCallback", "ClientHelloPause", "Reject", "read_client_hello"]

_SUCCESS = int(lib.SSL_CLIENT_HELLO_SUCCESS)
_ERROR = int(lib.SSL_CLIENT_HELLO_ERROR)
_RETRY = int(lib.SSL_CLIENT_HELLO_RETRY)
_AD_INTERNAL_ERROR = ALERT_CODES["internal_error"]
_MAX_EXTENSIONS = 256


@dataclass(frozen=True)
class Reject:
    """The ClientHello callback's refusal: fail the handshake with ``alert`` (a TLS alert name)."""

    alert: str = "handshake_failure"

    def __post_init__(self) -> None:
        if self.alert not in ALERT_CODES:
            raise ValueError(f"unknown TLS alert name {self.alert!r}")


class ClientHelloPause(pauses.Pause, kind=ErrorCode.WANT_CLIENT_HELLO_CB):
    """The ClientHello callback paused (``SSL_CLIENT_HELLO_RETRY``).

    ``hello`` is the ClientHello it saw. ``resume()`` runs the callback
    again; ``resume(accept=True)`` goes on, ``resume(accept=False)`` or
    ``resume(reject="access_denied")`` fails with that alert,
    ``resume(context=ctx)`` switches to a server context and goes on,
    ``resume(cert=..., key=...)`` uses that certificate and goes on.
    """

    callback = "client_hello"
    hello: ClientHello | None = None

    def _check(self, answer: dict[str, Any]) -> dict[str, Any]:
        from ossl_handshake.core.context import Context

        extra = set(answer) - {"accept", "reject", "context", "cert", "key"}
        if extra:
            raise TypeError(f"ClientHelloPause.resume() got unexpected {sorted(extra)}")
        if "key" in answer and "cert" not in answer:
            raise TypeError("key= needs cert=")
        if len(set(answer) - {"key"}) > 1:
            raise TypeError("give one of accept=, reject=, context=, cert=")
        if "cert" in answer:
            answer = {"paths": cert_paths(answer["cert"], answer.get("key"))}
        if "accept" in answer and not isinstance(answer["accept"], bool):
            raise TypeError(f"accept must be a bool, not {answer['accept']!r}")
        if "reject" in answer:
            Reject(answer["reject"])  # validates the alert name
        if "context" in answer:
            _check_context(answer["context"], Context)
        return answer


def _check_context(ctx: object, context_type: type[Context]) -> None:
    from ossl_handshake.tls.roles import Role

    if not isinstance(ctx, context_type) or ctx.role is not Role.SERVER:
        raise TypeError(f"a ClientHello answer switches to a server Context, not {ctx!r}")


def _bytes(ssl: Any, getter: Any) -> bytes:
    out = ffi.new("const unsigned char **")
    n = int(getter(ssl, out))
    return bytes(ffi.buffer(out[0], n)) if n else b""


def read_client_hello(ssl: Any) -> ClientHello:
    """Copy the ClientHello being processed (only valid inside the callback).

    ``SSL_client_hello_get0_legacy_version``, ``_get0_random``,
    ``_get0_session_id``, ``_get0_ciphers`` (names through
    ``SSL_CIPHER_find`` + ``SSL_CIPHER_standard_name``),
    ``_get0_compression_methods``, ``SSL_client_hello_get1_extensions_present``
    (types in order) and ``_get0_ext`` (each extension's bytes).
    """
    raw_ciphers = _bytes(ssl, lib.SSL_client_hello_get0_ciphers)
    suites = tuple(
        int.from_bytes(raw_ciphers[i : i + 2], "big") for i in range(0, len(raw_ciphers) - 1, 2)
    )
    names: list[str | None] = []
    for i in range(0, len(raw_ciphers) - 1, 2):
        c = lib.SSL_CIPHER_find(ssl, raw_ciphers[i : i + 2])
        names.append(
            ffi.string(lib.SSL_CIPHER_standard_name(c)).decode() if c != ffi.NULL else None
        )
    types = ffi.new("int[]", _MAX_EXTENSIONS)
    n = int(lib.ossl_client_hello_extensions(ssl, types, _MAX_EXTENSIONS))
    exts = []
    out = ffi.new("const unsigned char **")
    outlen = ffi.new("size_t *")
    for i in range(min(max(n, 0), _MAX_EXTENSIONS)):
        t = int(types[i])
        if lib.SSL_client_hello_get0_ext(ssl, t, out, outlen) == 1:
            exts.append((t, bytes(ffi.buffer(out[0], outlen[0])) if outlen[0] else b""))
        else:
            exts.append((t, b""))
    lib.ossl_clear_errors()
    return ClientHello(
        legacy_version=int(lib.SSL_client_hello_get0_legacy_version(ssl)),
        random=_bytes(ssl, lib.SSL_client_hello_get0_random),
        session_id=_bytes(ssl, lib.SSL_client_hello_get0_session_id),
        cipher_suites=suites,
        cipher_names=tuple(names),
        compression_methods=_bytes(ssl, lib.SSL_client_hello_get0_compression_methods),
        extensions=tuple(exts),
        sslv2=bool(lib.SSL_client_hello_isv2(ssl)),
    )


def _apply(conn: Connection, ssl: Any, answer: object, al: Any) -> int:
    """An answer (the callable's return or a resume keyword) as libssl's return value."""
    from ossl_handshake.core.context import Context

    if answer is None or answer is True:
        return _SUCCESS
    if answer is False:
        al[0] = ALERT_CODES["handshake_failure"]
        return _ERROR
    if isinstance(answer, Reject):
        al[0] = ALERT_CODES[answer.alert]
        return _ERROR
    if isinstance(answer, Context):
        _check_context(answer, Context)
        switch_context(conn, ssl, answer)
        return _SUCCESS
    if isinstance(answer, tuple) or (hasattr(answer, "cert") and hasattr(answer, "key")):
        use_files(ssl, *cert_paths(answer))
        return _SUCCESS
    raise TypeError(
        "client_hello_callback must return None, a bool, a server Context, a certificate, "
        f"Reject(...) or PAUSE, not {answer!r}"
    )


def _resumed_answer(answer: dict[str, Any]) -> object:
    if "reject" in answer:
        return Reject(answer["reject"])
    if "context" in answer:
        return answer["context"]
    return answer.get("accept", True)


def _pause(conn: Connection, hello: ClientHello, auto: bool) -> int:
    p = ClientHelloPause(conn, auto=auto)
    p.hello = hello
    pauses.begin(conn, p)
    return _RETRY


@ffi.def_extern()  # type: ignore[untyped-decorator]
def py_client_hello_cb(ssl: Any, al: Any, arg: Any) -> int:
    """``SSL_CTX_set_client_hello_cb``: copy the hello, ask Python, apply or pause."""
    conn, fn = hook_of(ssl, "client_hello")
    if fn is None or conn is None:
        al[0] = _AD_INTERNAL_ERROR
        return _ERROR
    try:
        status, answer = pauses.consult(conn, "client_hello")
        if status is pauses.Consult.WAITING:
            return _RETRY
        if status is pauses.Consult.ANSWERED:
            if "paths" in answer:
                use_files(ssl, *answer["paths"])
                return _SUCCESS
            return _apply(conn, ssl, _resumed_answer(answer), al)
        hello = read_client_hello(ssl)
        conn._client_hello = hello
        if pauses.auto_pause(conn, "client_hello"):
            return _pause(conn, hello, True)
        result = fn(hello)
        if result is pauses.PAUSE:
            return _pause(conn, hello, False)
        return _apply(conn, ssl, result, al)
    except BaseException as exc:  # parked, re-raised by step()
        park(conn, exc)
        al[0] = _AD_INTERNAL_ERROR
        return _ERROR
