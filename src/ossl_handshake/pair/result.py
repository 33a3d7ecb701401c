"""``SideResult`` and ``HandshakeResult``: what each side negotiated, and every step."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ossl_handshake._native import ffi, lib
from ossl_handshake.core.ca_lists import ca_names_of
from ossl_handshake.core.early_data import EarlyDataStatus
from ossl_handshake.core.errors import SSLError, drain, verify_message
from ossl_handshake.core.x509 import PeerCertificates
from ossl_handshake.tls.alpn import alpn_text
from ossl_handshake.tls.names import packed_alert_name
from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.core.connection import Connection, Step
    from ossl_handshake.core.pauses import Pause
    from ossl_handshake.tls.client_hello import ClientHello


class _Unset(enum.Enum):
    """Marks an :meth:`HandshakeResult.expect` keyword that was not given."""

    UNSET = 0


_UNSET = _Unset.UNSET
_LAZY_PEER = ("peer_subject", "peer_issuer", "peer_chain")
#: Made from the snapshot's own references on first read of that field.
_LAZY_VERIFIED = "verified_chain"
#: Fields decoded from the C snapshot on first read (SideResult.of).
_SNAPSHOT_FIELDS = frozenset(
    (
        "finished",
        "version",
        "cipher",
        "cipher_bits",
        "group",
        "alpn_protocol",
        "alpn_protocol_bytes",
        "ocsp_response",
        "server_name",
        "session_reused",
        "hello_retry_request",
        "verify_result",
        "verify_message",
        "peer_signature_algorithm",
        "alert_sent",
        "alert_received",
        *_LAZY_PEER,
        _LAZY_VERIFIED,
    )
)
_NULL = ffi.NULL
_verify_messages: dict[int, str] = {}


def _text(p: Any) -> str:
    """A libssl C string as ``str``; ``""`` for NULL."""
    return str(ffi.string(p).decode("utf-8", "replace")) if p != _NULL else ""


def _decode(snap: Any) -> dict[str, Any]:
    """The :class:`SideResult` fields held in an ``ossl_snapshot``."""
    nid = snap.group_nid
    bits = snap.cipher_bits
    vr = int(snap.verify_result)
    sent = snap.alert_sent
    received = snap.alert_received
    n = snap.alpn_len
    alpn = bytes(ffi.buffer(snap.alpn, n)) if n else None
    return {
        "finished": bool(snap.finished),
        "version": _text(snap.version) or None,
        "cipher": _text(snap.cipher) if snap.cipher != _NULL else None,
        "cipher_bits": bits if bits >= 0 else None,
        "group": (ffi.string(snap.group).decode() or f"0x{nid:04x}") if nid else None,
        "alpn_protocol": alpn_text(alpn) if alpn is not None else None,
        "alpn_protocol_bytes": alpn,
        "ocsp_response": bytes(ffi.buffer(snap.ocsp, snap.ocsp_len)) if snap.ocsp_len else None,
        "server_name": (
            ffi.string(snap.server_name).decode("utf-8", "replace")
            if snap.has_server_name
            else None
        ),
        "session_reused": bool(snap.reused),
        "hello_retry_request": bool(snap.hrr),
        "verify_result": vr,
        "verify_message": _verify_message(vr),
        "peer_signature_algorithm": _text(snap.peer_sig) or None,
        "alert_sent": packed_alert_name(sent),
        "alert_received": packed_alert_name(received),
    }


def _verify_message(code: int) -> str:
    """``X509_verify_cert_error_string``, cached (a handful of codes ever occur)."""
    msg = _verify_messages.get(code)
    if msg is None:
        msg = _verify_messages[code] = verify_message(code)
    return msg


def _client_snapshot(ssl: Any) -> tuple[Any, list[str] | None]:
    """A client's snapshot and the CA names its server sent (one guarded read)."""
    return lib.ossl_snapshot_new(ssl), ca_names_of(ssl)


#: One exporter request: ``(label, length)`` or ``(label, length, context)``.
ExportRequest = tuple[str | bytes, int] | tuple[str | bytes, int, bytes | None]


def _export_key(
    label: str | bytes, length: int, context: bytes | None
) -> tuple[bytes, int, bytes | None]:
    return (label.encode("ascii") if isinstance(label, str) else bytes(label), length, context)


@dataclass(frozen=True)
class KeyingMaterial:
    """One side's keying material and channel bindings after a handshake.

    ``exported`` maps each requested ``(label, length, context)`` to
    ``SSL_export_keying_material``'s output (RFC 5705/8446 §7.5; a context of
    None and ``b""`` differ in TLS 1.2); ``finished``/``peer_finished`` are
    ``SSL_get_finished``/``SSL_get_peer_finished`` (tls-unique, RFC 5929),
    ``client_random``/``server_random`` the hello randoms. Both sides of a
    handshake that succeeded hold the same exports.
    """

    exported: dict[tuple[bytes, int, bytes | None], bytes]
    finished: bytes | None
    peer_finished: bytes | None
    client_random: bytes | None
    server_random: bytes | None

    @classmethod
    def of(cls, conn: Connection, requests: Iterable[ExportRequest]) -> KeyingMaterial:
        """Read them from ``conn`` (each through its guarded accessor)."""
        exported: dict[tuple[bytes, int, bytes | None], bytes] = {}
        for req in requests:
            label, length = req[0], req[1]
            context = req[2] if len(req) > 2 else None
            key = (
                label.encode("ascii") if isinstance(label, str) else bytes(label),
                length,
                context,
            )
            exported[key] = conn.export_keying_material(label, length, context)
        return cls(
            exported=exported,
            finished=conn.finished,
            peer_finished=conn.peer_finished,
            client_random=conn.client_random,
            server_random=conn.server_random,
        )

    def export(self, label: str | bytes, length: int, context: bytes | None = None) -> bytes:
        """The exported bytes for one request made at drive time (``KeyError`` otherwise)."""
        return self.exported[_export_key(label, length, context)]


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
    #: The negotiated ALPN ID as sent (``alpn_protocol`` is its text form).
    alpn_protocol_bytes: bytes | None
    #: The stapled OCSP response (DER), None when none was stapled.
    ocsp_response: bytes | None
    #: ``SSL_get0_verified_chain`` (DER, leaf to anchor); empty when not verified.
    verified_chain: tuple[bytes, ...]
    error: SSLError | None = None
    signature_algorithm: str | None = None
    #: The server's copy of the ClientHello its ClientHello callback saw.
    client_hello: ClientHello | None = None
    #: ``SSL_get_client_CA_list`` (a client: the names the server sent; see
    #: :attr:`Connection.client_ca_names <ossl_handshake.Connection.client_ca_names>`).
    client_ca_names: list[str] | None = None
    #: Keying material and channel bindings, when the drive was asked for them
    #: (``drive(..., keying_material=[...])``); None otherwise.
    keying: KeyingMaterial | None = None

    @classmethod
    def of(cls, conn: Connection) -> SideResult:
        """Snapshot ``conn``: every ``SSL_get_*`` read happens here, in one C call.

        ``ossl_snapshot_new`` copies the negotiated values into one struct and
        takes the peer's leaf (``SSL_get1_peer_certificate``) and chain
        (``X509_chain_up_ref``) by reference. The fields are made into Python
        values on first read, and ``peer_subject``, ``peer_issuer`` and
        ``peer_chain`` (DER, RFC 2253) only when one of them is read: most
        results are never looked at field by field.
        """
        if conn.role is Role.CLIENT:  # with SSL_get_client_CA_list, under the same read
            snap, ca_names = conn._guard.read(_client_snapshot)
            return cls.of_snapshot(conn, snap, ca_names)
        return cls.of_snapshot(conn, conn._guard.read(lib.ossl_snapshot_new))

    @classmethod
    def of_snapshot(
        cls, conn: Connection, snap: Any, ca_names: list[str] | None = None
    ) -> SideResult:
        """The result of a snapshot ``ossl_snapshot_new`` took of ``conn`` (under
        its guard, e.g. inside the C driver's call); takes ownership of ``snap``.
        ``ca_names``: a client's ``SSL_get_client_CA_list``, read under the same guard."""
        if snap == _NULL:
            raise MemoryError("ossl_snapshot_new")
        self = cls.__new__(cls)
        # The frozen dataclass __init__ would cost an object.__setattr__ per
        # field; the fields are decoded from the snapshot on first read.
        self.__dict__.update(
            role=conn.role,
            error=conn.failed,
            # Has a class-level default, so it cannot be decoded on first read.
            signature_algorithm=_text(snap.sig) or None,
            client_hello=conn._client_hello,
            client_ca_names=ca_names,
            _snap=ffi.gc(snap, lib.ossl_snapshot_free),
        )
        return self

    if not TYPE_CHECKING:  # keeps mypy's attribute checks on the declared fields

        def __getattr__(self, name: str) -> Any:
            # Reached only for fields of() left undecoded.
            d = self.__dict__
            snap = d.get("_snap")
            if snap is not None and name in _SNAPSHOT_FIELDS:
                d.update(_decode(snap))
                d["_peer_certs"] = PeerCertificates.held(snap.leaf, snap.chain, snap)
                d["_verified"] = PeerCertificates.held(_NULL, snap.verified, snap)
                del d["_snap"]
                return getattr(self, name)  # peer_* fields: decoded below
            if name == _LAZY_VERIFIED and "_verified" in d:
                verified = d.pop("_verified").decode()[2]
                object.__setattr__(self, name, verified)
                return verified
            certs = d.get("_peer_certs")
            if certs is None or name not in _LAZY_PEER:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            for field_name, value in zip(_LAZY_PEER, certs.decode(), strict=True):
                object.__setattr__(self, field_name, value)
            object.__delattr__(self, "_peer_certs")
            return d[name]

    def __getstate__(self) -> dict[str, Any]:
        for name in (*_LAZY_PEER, _LAZY_VERIFIED):
            getattr(self, name)  # decode before copying or pickling
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def peer_chain_names(self) -> list[tuple[str, str]]:
        """``(subject, issuer)`` of each certificate in :attr:`peer_chain`, leaf first.

        Decoded on demand (``d2i_X509`` + ``X509_NAME_print_ex``, RFC 2253).
        """
        from ossl_handshake._native import ffi, lib
        from ossl_handshake.core.x509 import x509_name

        out = []
        for der in self.peer_chain:
            buf = ffi.new("unsigned char[]", der)
            pp = ffi.new("const unsigned char **", buf)
            x = lib.d2i_X509(ffi.NULL, pp, len(der))
            if x == ffi.NULL:
                drain()  # d2i queued why; the ValueError says it
                raise ValueError("peer_chain holds bytes that are not a DER certificate")
            try:
                subject = x509_name(lib.X509_get_subject_name(x))
                out.append((subject, x509_name(lib.X509_get_issuer_name(x))))
            finally:
                lib.X509_free(x)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (certificates as counts, the error as class and reasons)."""
        # Not the error itself: asdict deep-copies, and a failure's .result
        # reaches the wire and its lock.
        d = asdict(replace(self, error=None))
        d["role"] = self.role.value
        d["peer_chain"] = len(self.peer_chain)
        d["client_hello"] = self.client_hello.to_dict() if self.client_hello else None
        d["verified_chain"] = len(self.verified_chain)
        d["ocsp_response"] = len(self.ocsp_response) if self.ocsp_response is not None else None
        d["alpn_protocol_bytes"] = (
            self.alpn_protocol_bytes.hex() if self.alpn_protocol_bytes is not None else None
        )
        d["error"] = (
            None
            if self.error is None
            else {"class": type(self.error).__name__, "reasons": self.error.reasons}
        )
        return d


@dataclass(frozen=True, slots=True)
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
    wire: Any = None
    #: The :class:`~ossl_handshake.core.pauses.Pause` the drive stopped at, if any.
    paused: Pause | None = None

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # ``steps`` of a direct-mode drive that ended well are built from
            # the C driver's records on first read (pair._drive_c).
            raw = self.__dict__.pop("_raw_steps", None) if name == "steps" else None
            if raw is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            steps = self.__dict__["steps"] = raw()
            return steps

    def __getstate__(self) -> dict[str, Any]:
        self.steps  # noqa: B018 - build lazy steps before copying or pickling
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

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

    def expect(
        self,
        *,
        ok: bool | None = None,
        failed_side: Role | _Unset | None = _UNSET,
        error: type[BaseException] | _Unset | None = _UNSET,
        client_error: type[BaseException] | _Unset | None = _UNSET,
        server_error: type[BaseException] | _Unset | None = _UNSET,
        client_alert: str | _Unset | None = _UNSET,
        server_alert: str | _Unset | None = _UNSET,
        client_alert_sent: str | _Unset | None = _UNSET,
        server_alert_sent: str | _Unset | None = _UNSET,
        client_alert_received: str | _Unset | None = _UNSET,
        server_alert_received: str | _Unset | None = _UNSET,
        reason: str | None = None,
        client_reason: str | None = None,
        server_reason: str | None = None,
        verify_result: int | None = None,
        version: str | None = None,
        session_reused: bool | None = None,
        verify_code: int | None = None,
    ) -> HandshakeResult:
        """Assert the outcome; raise ``AssertionError`` listing every mismatch, then the ladder.

        Only the keywords given are checked (``None`` is a real expectation
        for the alert and error keywords: "no alert", "no error").

        - ``ok``: both sides finished without error.
        - ``failed_side``: the side that failed first (``Role``, or None).
        - ``error``: class of the first failure (``isinstance``), e.g.
          :class:`~ossl_handshake.errors.NoProgressError`.
        - ``client_error``/``server_error``: class of that side's own failure.
        - ``client_alert``/``server_alert``: short for ``*_alert_sent``.
        - ``{client,server}_alert_{sent,received}``: alert description names
          (``"bad_record_mac"``) from the info callback.
        - ``reason``: a reason text of the first failure's error queue
          (``"decryption failed or bad record mac"``); ``client_reason``/
          ``server_reason``: one of that side's own error reasons.
        - ``verify_result``: ``X509_V_ERR_*`` of the failure (or of the client's
          ``SSL_get_verify_result`` when nothing failed), e.g. 62;
          ``verify_code`` is its old name.
        - ``version``: both sides negotiated this (``"TLSv1.3"``).
        - ``session_reused``: both sides agree it was (not) resumed.

        Returns ``self`` so calls chain.
        """
        bad: list[str] = []

        def check(name: str, want: object, got: object) -> None:
            if want != got:
                bad.append(f"{name}: expected {want!r}, got {got!r}")

        def check_class(name: str, want: type[BaseException] | None, got: object) -> None:
            if want is None:
                if got is not None:
                    bad.append(f"{name}: expected no error, got {type(got).__name__}: {got}")
            elif not isinstance(got, want):
                what = "nothing" if got is None else f"{type(got).__name__}: {got}"
                bad.append(f"{name}: expected {want.__name__}, got {what}")

        if ok is not None:
            check("ok", ok, self.ok)
        if not isinstance(failed_side, _Unset):
            check("failed_side", failed_side, self.failed_side)
        if not isinstance(error, _Unset):
            check_class("error", error, self.error)
        for role, want_err in ((Role.CLIENT, client_error), (Role.SERVER, server_error)):
            if not isinstance(want_err, _Unset):
                check_class(f"{role.value}_error", want_err, self.side_error(role))
        if not isinstance(client_alert, _Unset):
            client_alert_sent = client_alert
        if not isinstance(server_alert, _Unset):
            server_alert_sent = server_alert
        for key, want_alert, got_alert in (
            ("client_alert_sent", client_alert_sent, self.client.alert_sent),
            ("server_alert_sent", server_alert_sent, self.server.alert_sent),
            ("client_alert_received", client_alert_received, self.client.alert_received),
            ("server_alert_received", server_alert_received, self.server.alert_received),
        ):
            if not isinstance(want_alert, _Unset):
                check(key, want_alert, got_alert)
        if reason is not None:
            reasons = self.error.reasons if self.error is not None else []
            if reason not in reasons:
                bad.append(f"reason: expected {reason!r} among {reasons!r}")
        for role, want_reason in ((Role.CLIENT, client_reason), (Role.SERVER, server_reason)):
            if want_reason is not None:
                err = self.side_error(role)
                reasons = err.reasons if err is not None else []
                if want_reason not in reasons:
                    bad.append(f"{role.value}_reason: expected {want_reason!r} among {reasons!r}")
        if verify_result is None:
            verify_result = verify_code
        if verify_result is not None:
            got_code = self.error.verify_result if self.error is not None else None
            check("verify_result", verify_result, got_code or self.client.verify_result)
        if version is not None:
            check("version", (version, version), (self.client.version, self.server.version))
        if session_reused is not None:
            check(
                "session_reused",
                (session_reused, session_reused),
                (self.client.session_reused, self.server.session_reused),
            )
        if bad:
            raise AssertionError(
                "handshake outcome differs from expectation:\n  "
                + "\n  ".join(bad)
                + "\n\n"
                + self.explain()
            )
        return self

    def side_error(self, role: Role) -> SSLError | None:
        """The error ``role``'s own connection failed with (or the driver's error for it)."""
        err = self.side(role).error
        if err is None and self.failed_side is role:
            err = self.error
        return err

    def explain(self) -> str:
        """Outcome, alerts, the ladder (or a step table) and the wire's records, as text."""
        lines = [self.summary()]
        for side in (self.client, self.server):
            lines.append(
                f"{side.role.value}: finished={side.finished} "
                f"alert_sent={side.alert_sent} alert_received={side.alert_received} "
                f"error={type(side.error).__name__ if side.error else None}"
                + (f" {side.error.reasons}" if side.error else "")
            )
        lines.append("")
        lines.append(self._ladder())
        describe = getattr(self.wire, "describe", None)
        if describe is not None:
            lines.append("")
            lines.append("wire:")
            lines.append(str(describe()))
        return "\n".join(lines)

    def _ladder(self) -> str:
        if self.trace is not None:
            try:
                from ossl_handshake.observe import ladder
            except ImportError:
                pass
            else:
                return str(ladder.render_text(self.trace))
        rows = ["step  side    ret  SSL_get_error         sent  state"]
        for r in self.steps:
            st = r.step
            rows.append(
                f"{r.index:>4}  {r.role.value:<6} {st.ret:>4}  {st.error_code.name:<20} "
                f"{r.sent:>5}  {st.state}"
            )
        return "\n".join(rows)

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


@dataclass
class EarlyDataResult(HandshakeResult):
    """A handshake with 0-RTT (:func:`~ossl_handshake.pair.driver.early_data_handshake`).

    ``early_data``: the bytes the server's ``SSL_read_early_data`` calls
    returned, in order; ``early_reads``: each call's
    :class:`~ossl_handshake.core.early_data.EarlyRead`; ``client_status`` /
    ``server_status``: ``SSL_get_early_data_status`` of each side at the end.
    """

    early_data: bytes = b""
    early_reads: list[Any] = field(default_factory=list)
    client_status: EarlyDataStatus | None = None
    server_status: EarlyDataStatus | None = None

    @property
    def accepted(self) -> bool:
        """Both sides report the early data accepted."""
        accepted = EarlyDataStatus.ACCEPTED
        return bool(self.client_status is accepted and self.server_status is accepted)
