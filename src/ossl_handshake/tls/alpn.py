"""The ALPN protocol list on the wire (RFC 7301, section 3.1), without libssl.

Protocol IDs are opaque bytes (RFC 7301 3.1: "opaque ProtocolName"), and
bytes they stay end to end: the server's selector is handed ``list[bytes]``
and the negotiated ID reads as bytes (``alpn_protocol_bytes``). A ``str`` is
a convenience for the common ASCII IDs (``"h2"``): accepted wherever an ID
is given, but only if it is ASCII (``ValueError`` otherwise: which encoding a
non-ASCII text would mean is not ours to guess); ``alpn_protocol`` reads an
ID back as text with backslash escapes for non-ASCII bytes (:func:`alpn_text`).

``ProtocolNameList`` is a sequence of ``opaque ProtocolName<1..2^8-1>``: each
name one length byte then its bytes. :func:`encode_alpn` builds it from
names (what ``SSL_CTX_set_alpn_protos`` takes), :func:`decode_alpn` and
:func:`alpn_entries` read one (what the ALPN select callback is handed).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["alpn_entries", "alpn_name", "alpn_text", "decode_alpn", "encode_alpn"]


def alpn_name(proto: object) -> bytes:
    """One protocol name as bytes: a str (ASCII) or bytes of 1..255 bytes, no NUL.

    ``TypeError`` for anything else (an int would make ``bytes(5)``: five NUL
    bytes); ``ValueError`` for an empty, too long or non-ASCII name, or one
    holding a NUL (C code would read it as a shorter name).
    """
    if isinstance(proto, str):
        try:
            raw = proto.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"ALPN protocol names are ASCII: {proto!r}") from None
    elif isinstance(proto, (bytes, bytearray, memoryview)):
        raw = bytes(proto)
    else:
        raise TypeError(f"an ALPN protocol name is a str or bytes, not {type(proto).__name__}")
    if not 0 < len(raw) < 256:
        raise ValueError(f"ALPN protocol names are 1..255 bytes: {proto!r}")
    if b"\x00" in raw:
        raise ValueError(f"ALPN protocol name contains a NUL byte: {proto!r}")
    return raw


def encode_alpn(protocols: Iterable[str | bytes]) -> bytes:
    """The ALPN wire list: each protocol as a length-prefixed byte string."""
    if isinstance(protocols, (str, bytes, bytearray, memoryview)):
        raise TypeError("ALPN protocols must be a list of names, not one string")
    try:
        items = list(protocols)
    except TypeError:
        raise TypeError(
            f"ALPN protocols must be a list of names, not {type(protocols).__name__}"
        ) from None
    out = bytearray()
    for proto in items:
        raw = alpn_name(proto)
        out.append(len(raw))
        out += raw
    if not out:
        raise ValueError("ALPN protocol list is empty")
    if len(out) > 0xFFFF:
        raise ValueError("ALPN protocol list is longer than 65535 bytes")
    return bytes(out)


def alpn_entries(data: bytes) -> list[tuple[int, bytes]]:
    """``(offset of the name, name)`` for each entry of a wire list.

    A truncated last entry (a length running past the end) is left out:
    libssl has already checked the list it hands a callback.
    """
    out = []
    i = 0
    while i < len(data):
        n = data[i]
        if n == 0 or i + 1 + n > len(data):
            break
        out.append((i + 1, bytes(data[i + 1 : i + 1 + n])))
        i += 1 + n
    return out


def decode_alpn(data: bytes) -> list[bytes]:
    """The names of a wire list; ``ValueError`` when it is not well formed."""
    entries = alpn_entries(data)
    if sum(1 + len(p) for _, p in entries) != len(data):
        raise ValueError(f"malformed ALPN protocol list: {bytes(data)!r}")
    return [p for _, p in entries]


def alpn_text(proto: bytes) -> str:
    """An ID as text: ASCII as is, other bytes escaped (``b"\\xffx"`` → ``"\\\\xffx"``).

    Lossless for ASCII IDs only; compare IDs as bytes.
    """
    return bytes(proto).decode("ascii", "backslashreplace")
