"""``SideResult`` and ``HandshakeResult``: what each side negotiated, and every step."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ossl_handshake.constants import Role
from ossl_handshake.errors import SSLError

if TYPE_CHECKING:
    from ossl_handshake.connection import Connection, Step


@dataclass(frozen=True)
class SideResult:
    """One side's view after a handshake (read from its :class:`Connection`)."""

    role: Role
    finished: bool
    version: str | None
    cipher: str | None
    cipher_bits: int | None
    group: str | None
    alpn_protocol: str | None
    server_name: str | None
    session_reused: bool
    hello_retry_request: bool
    verify_result: int
    verify_message: str
    peer_subject: str | None
    peer_issuer: str | None
    peer_chain: tuple[bytes, ...]
    peer_signature_algorithm: str | None
    alert_sent: str | None
    alert_received: str | None
    error: SSLError | None = None
    signature_algorithm: str | None = None

    @classmethod
    def of(cls, conn: Connection) -> SideResult:
        """Snapshot ``conn`` (all ``SSL_get_*`` reads happen here)."""
        chain = list(conn.peer_chain)
        leaf = conn.peer_certificate
        if leaf is not None and (not chain or chain[0] != leaf):
            chain.insert(0, leaf)
        return cls(
            role=conn.role,
            finished=conn.is_init_finished,
            version=conn.version if conn.is_init_finished else None,
            cipher=conn.cipher,
            cipher_bits=conn.cipher_bits,
            group=conn.group,
            alpn_protocol=conn.alpn_protocol,
            server_name=conn.server_name,
            session_reused=conn.session_reused,
            hello_retry_request=conn.hello_retry_request,
            verify_result=conn.verify_result,
            verify_message=conn.verify_message,
            peer_subject=conn.peer_subject,
            peer_issuer=conn.peer_issuer,
            peer_chain=tuple(chain),
            peer_signature_algorithm=conn.peer_signature_algorithm,
            alert_sent=conn.alert_sent,
            alert_received=conn.alert_received,
            error=conn.failed,
            signature_algorithm=conn.signature_algorithm,
        )

    @property
    def peer_chain_names(self) -> list[tuple[str, str]]:
        """``(subject, issuer)`` of each certificate in :attr:`peer_chain`, leaf first.

        Decoded on demand (``d2i_X509`` + ``X509_NAME_print_ex``, RFC 2253).
        """
        from ossl_handshake._binding import ffi, lib
        from ossl_handshake.connection import x509_name

        out = []
        for der in self.peer_chain:
            buf = ffi.new("unsigned char[]", der)
            pp = ffi.new("const unsigned char **", buf)
            x = lib.d2i_X509(ffi.NULL, pp, len(der))
            if x == ffi.NULL:
                lib.ERR_clear_error()
                raise ValueError("peer_chain holds bytes that are not a DER certificate")
            try:
                subject = x509_name(lib.X509_get_subject_name(x))
                out.append((subject, x509_name(lib.X509_get_issuer_name(x))))
            finally:
                lib.X509_free(x)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (certificates as counts, the error as class and reasons)."""
        d = asdict(self)
        d["role"] = self.role.value
        d["peer_chain"] = len(self.peer_chain)
        d["error"] = (
            None
            if self.error is None
            else {"class": type(self.error).__name__, "reasons": self.error.reasons}
        )
        return d


@dataclass
class StepRecord:
    """A :class:`Step` in the driver's order, with the bytes it put on the wire."""

    index: int
    step: Step
    sent: int

    @property
    def role(self) -> Role:
        return self.step.role


@dataclass
class HandshakeResult:
    """What :func:`~ossl_handshake.pair.handshake` returns: both sides and every step.

    ``client``/``server`` are snapshots taken when the driver stopped.
    ``failed_side`` and ``error`` name the side that failed first and its
    exception; ``ok`` is True when both finished.
    """

    client: SideResult
    server: SideResult
    steps: list[StepRecord] = field(default_factory=list)
    failed_side: Role | None = None
    error: SSLError | None = None
    trace: Any = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.client.finished and self.server.finished

    def side(self, role: Role) -> SideResult:
        return self.client if role is Role.CLIENT else self.server

    def summary(self) -> str:
        """One line: ``TLSv1.3 TLS_AES_256_GCM_SHA384 x25519, verify ok, 4 steps``."""
        if not self.ok:
            assert self.error is not None or self.failed_side is not None
            who = self.failed_side.value if self.failed_side else "?"
            return f"FAILED on the {who} side: {self.error}"
        c = self.client
        parts = [c.version or "?", c.cipher or "?"]
        if c.group:
            parts.append(c.group)
        if c.alpn_protocol:
            parts.append(f"alpn={c.alpn_protocol}")
        if c.session_reused:
            parts.append("resumed")
        if c.hello_retry_request:
            parts.append("HRR")
        return f"{' '.join(parts)}, verify {c.verify_message}, {len(self.steps)} steps"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failed_side": self.failed_side.value if self.failed_side else None,
            "error": None
            if self.error is None
            else {
                "class": type(self.error).__name__,
                "message": str(self.error),
                "reasons": self.error.reasons,
            },
            "client": self.client.to_dict(),
            "server": self.server.to_dict(),
            "steps": [
                {
                    "index": r.index,
                    "side": r.role.value,
                    "ret": r.step.ret,
                    "error_code": r.step.error_code.name,
                    "state": r.step.state,
                    "sent": r.sent,
                }
                for r in self.steps
            ],
        }
