"""What a client offered: a ClientHello copied into Python values, and its extensions decoded.

Pure wire-format code (no libssl): ``core/client_hello.py`` copies the raw
fields out of ``SSL_client_hello_get0_*`` during the callback and builds a
:class:`ClientHello`; everything decoded here comes from those bytes (RFC
8446 section 4.1.2 and 4.2; RFC 6066 for SNI, RFC 7301 for ALPN). A
malformed extension raises :class:`ClientHelloDecodeError` when its
property is read (the handshake itself is libssl's business).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EXTENSION_NAMES",
    "ClientHello",
    "ClientHelloDecodeError",
    "KeyShare",
    "group_name",
    "is_grease",
    "sigalg_name",
    "version_name",
]

EXT_SERVER_NAME = 0
EXT_SUPPORTED_GROUPS = 10
EXT_SIGNATURE_ALGORITHMS = 13
EXT_ALPN = 16
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_KEY_EXCHANGE_MODES = 45
EXT_KEY_SHARE = 51

#: IANA TLS ExtensionType names of the extensions OpenSSL clients send.
EXTENSION_NAMES: dict[int, str] = {
    0: "server_name",
    1: "max_fragment_length",
    5: "status_request",
    10: "supported_groups",
    11: "ec_point_formats",
    13: "signature_algorithms",
    16: "application_layer_protocol_negotiation",
    18: "signed_certificate_timestamp",
    21: "padding",
    22: "encrypt_then_mac",
    23: "extended_master_secret",
    27: "compress_certificate",
    35: "session_ticket",
    41: "pre_shared_key",
    42: "early_data",
    43: "supported_versions",
    44: "cookie",
    45: "psk_key_exchange_modes",
    49: "post_handshake_auth",
    50: "signature_algorithms_cert",
    51: "key_share",
    65281: "renegotiation_info",
}

_VERSIONS = {
    0x0300: "SSLv3",
    0x0301: "TLSv1",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}
_GROUPS = {
    23: "secp256r1",
    24: "secp384r1",
    25: "secp521r1",
    29: "x25519",
    30: "x448",
    256: "ffdhe2048",
    257: "ffdhe3072",
    258: "ffdhe4096",
    259: "ffdhe6144",
    260: "ffdhe8192",
    0x11EC: "X25519MLKEM768",
    0x11EB: "SecP256r1MLKEM768",
    0x11ED: "SecP384r1MLKEM1024",
    0x0200: "MLKEM512",
    0x0201: "MLKEM768",
    0x0202: "MLKEM1024",
}
_SIGALGS = {
    0x0401: "rsa_pkcs1_sha256",
    0x0501: "rsa_pkcs1_sha384",
    0x0601: "rsa_pkcs1_sha512",
    0x0201: "rsa_pkcs1_sha1",
    0x0203: "ecdsa_sha1",
    0x0403: "ecdsa_secp256r1_sha256",
    0x0503: "ecdsa_secp384r1_sha384",
    0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256",
    0x0805: "rsa_pss_rsae_sha384",
    0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519",
    0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256",
    0x080A: "rsa_pss_pss_sha384",
    0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256",
    0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
    0x0904: "mldsa44",
    0x0905: "mldsa65",
    0x0906: "mldsa87",
}
_PSK_MODES = {0: "psk_ke", 1: "psk_dhe_ke"}


class ClientHelloDecodeError(ValueError):
    """An extension's bytes do not parse as its RFC structure."""


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x0A0A, 0x1A1A, ... 0xFAFA)."""
    return value & 0x0F0F == 0x0A0A and (value >> 8) == (value & 0xFF)


def _name(table: dict[int, str], value: int) -> str:
    if value in table:
        return table[value]
    return "GREASE" if is_grease(value) else f"0x{value:04x}"


def version_name(v: int) -> str:
    """``TLSv1.3`` for 0x0304; GREASE and unknown values as text."""
    return _name(_VERSIONS, v)


def group_name(g: int) -> str:
    """The IANA name of a supported group (``x25519``, ``secp256r1``, ...)."""
    return _name(_GROUPS, g)


def sigalg_name(s: int) -> str:
    """The IANA name of a SignatureScheme (``ecdsa_secp256r1_sha256``, ...)."""
    return _name(_SIGALGS, s)


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ClientHelloDecodeError(f"{self.what}: truncated at byte {self.pos}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vector(self, len_bytes: int) -> _Reader:
        return _Reader(self.take(self.uint(len_bytes)), self.what)

    def done(self) -> bool:
        return self.pos == len(self.data)

    def end(self) -> None:
        if not self.done():
            raise ClientHelloDecodeError(f"{self.what}: {len(self.data) - self.pos} trailing bytes")

    def uints(self, n: int) -> tuple[int, ...]:
        if len(self.data) % n:
            raise ClientHelloDecodeError(
                f"{self.what}: length {len(self.data)} not a multiple of {n}"
            )
        return tuple(self.uint(n) for _ in range(len(self.data) // n))


@dataclass(frozen=True)
class KeyShare:
    """One KeyShareEntry: the group and the public key bytes."""

    group: int
    key_exchange: bytes

    @property
    def group_name(self) -> str:
        return group_name(self.group)


@dataclass(frozen=True)
class ClientHello:
    """A ClientHello as the server received it (copied during the ClientHello callback).

    ``legacy_version`` (0x0303 for TLS 1.2 and 1.3), ``random`` (32 bytes),
    ``session_id``, ``cipher_suites`` (IANA numbers, in the client's order)
    with ``cipher_names`` (the IANA names OpenSSL knows, None for others,
    GREASE included), ``compression_methods``, ``extensions`` (``(type,
    raw bytes)`` in the order sent) and ``sslv2`` (an SSLv2-format hello).
    The decoded extensions are properties; an absent extension reads as None.
    """

    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    cipher_names: tuple[str | None, ...]
    compression_methods: bytes
    extensions: tuple[tuple[int, bytes], ...]
    sslv2: bool = False
    _by_type: dict[int, bytes] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_type.update(self.extensions)

    @property
    def extension_types(self) -> tuple[int, ...]:
        """The extension types in the order the client sent them."""
        return tuple(t for t, _ in self.extensions)

    @property
    def extension_names(self) -> tuple[str, ...]:
        """:attr:`extension_types` as IANA names (``0x....`` / GREASE when unknown)."""
        return tuple(_name(EXTENSION_NAMES, t) for t in self.extension_types)

    def extension(self, ext_type: int) -> bytes | None:
        """The raw bytes of one extension (``SSL_client_hello_get0_ext``), None if absent."""
        return self._by_type.get(ext_type)

    def _reader(self, ext_type: int) -> _Reader | None:
        raw = self._by_type.get(ext_type)
        return None if raw is None else _Reader(raw, _name(EXTENSION_NAMES, ext_type))

    def _vector(self, ext_type: int, len_bytes: int) -> _Reader | None:
        """The one length-prefixed vector an extension's body is, None if absent."""
        r = self._reader(ext_type)
        if r is None:
            return None
        body = r.vector(len_bytes)
        r.end()
        return body

    def _uints(self, ext_type: int, len_bytes: int) -> tuple[int, ...] | None:
        """An extension that is one vector of 16-bit numbers, None if absent."""
        r = self._reader(ext_type)
        if r is None:
            return None
        out = r.vector(len_bytes).uints(2)
        r.end()
        return out

    @property
    def supported_versions(self) -> tuple[int, ...] | None:
        """supported_versions (43): the versions offered, in order (0x0304 = TLS 1.3)."""
        return self._uints(EXT_SUPPORTED_VERSIONS, 1)

    @property
    def supported_version_names(self) -> tuple[str, ...] | None:
        v = self.supported_versions
        return None if v is None else tuple(version_name(x) for x in v)

    @property
    def groups(self) -> tuple[int, ...] | None:
        """supported_groups (10): NamedGroup numbers by preference."""
        return self._uints(EXT_SUPPORTED_GROUPS, 2)

    @property
    def group_names(self) -> tuple[str, ...] | None:
        g = self.groups
        return None if g is None else tuple(group_name(x) for x in g)

    @property
    def key_shares(self) -> tuple[KeyShare, ...] | None:
        """key_share (51): the KeyShareEntry list (group and public key)."""
        body = self._vector(EXT_KEY_SHARE, 2)
        if body is None:
            return None
        out = []
        while not body.done():
            group = body.uint(2)
            out.append(KeyShare(group, body.vector(2).data))
        return tuple(out)

    @property
    def signature_algorithms(self) -> tuple[int, ...] | None:
        """signature_algorithms (13): SignatureScheme numbers by preference."""
        return self._uints(EXT_SIGNATURE_ALGORITHMS, 2)

    @property
    def signature_algorithm_names(self) -> tuple[str, ...] | None:
        s = self.signature_algorithms
        return None if s is None else tuple(sigalg_name(x) for x in s)

    @property
    def server_name(self) -> str | None:
        """server_name (0): the host_name entry (RFC 6066), None if absent."""
        names = self._vector(EXT_SERVER_NAME, 2)
        if names is None:
            return None
        while not names.done():
            kind = names.uint(1)
            value = names.vector(2).data
            if kind == 0:
                return value.decode("ascii", "replace")
        return None

    @property
    def alpn(self) -> tuple[str, ...] | None:
        """application_layer_protocol_negotiation (16): the protocols offered."""
        protos = self._vector(EXT_ALPN, 2)
        if protos is None:
            return None
        out = []
        while not protos.done():
            name = protos.vector(1).data
            if not name:
                raise ClientHelloDecodeError("application_layer_protocol_negotiation: empty name")
            out.append(name.decode("ascii", "replace"))
        return tuple(out)

    @property
    def psk_modes(self) -> tuple[str, ...] | None:
        """psk_key_exchange_modes (45): ``psk_ke`` / ``psk_dhe_ke``."""
        modes = self._vector(EXT_PSK_KEY_EXCHANGE_MODES, 1)
        if modes is None:
            return None
        return tuple(_PSK_MODES.get(m, f"0x{m:02x}") for m in modes.data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: bytes as hex, the decoded extensions by name."""
        return {
            "legacy_version": self.legacy_version,
            "random": self.random.hex(),
            "session_id": self.session_id.hex(),
            "cipher_suites": list(self.cipher_suites),
            "cipher_names": list(self.cipher_names),
            "compression_methods": list(self.compression_methods),
            "extensions": [[t, raw.hex()] for t, raw in self.extensions],
            "supported_versions": self.supported_version_names,
            "groups": self.group_names,
            "signature_algorithms": self.signature_algorithm_names,
            "server_name": self.server_name,
            "alpn": self.alpn,
            "psk_modes": self.psk_modes,
        }
