"""Capture files of an in-memory handshake: classic pcap and pcapng.

The flights a :class:`~ossl_handshake.trace.Trace` recorded
(:class:`~ossl_handshake.trace.TransferEvent`) become TCP segments of one
synthesized connection, Ethernet/IPv4/TCP, client ``127.0.0.1:CLIENT_PORT``
to server ``127.0.0.2:SERVER_PORT``: a three-way handshake first, one
segment per flight (split only above the IPv4 size limit) with correct
sequence and acknowledgement numbers and IPv4 and TCP checksums, FIN/ACK
exchanges at the end. Timestamps are the trace's own.

The pcapng form can carry the trace's key log as a Decryption Secrets Block
(secrets type ``TLSK``), so Wireshark/tshark decrypt it without a key file.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ossl_handshake.tls.roles import Role

if TYPE_CHECKING:
    from ossl_handshake.observe.trace import Trace

CLIENT_IP = bytes([127, 0, 0, 1])
SERVER_IP = bytes([127, 0, 0, 2])
CLIENT_PORT = 50443
SERVER_PORT = 4433
CLIENT_MAC = bytes.fromhex("020000000001")
SERVER_MAC = bytes.fromhex("020000000002")

LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
#: Largest TCP payload in one IPv4 packet (65535 minus 20 + 20 header bytes).
MAX_SEGMENT = 65535 - 40
#: pcapng Decryption Secrets Block: secrets type of a TLS key log.
SECRETS_TYPE_TLS = 0x544C534B

_SYN, _FIN, _ACK, _PSH = 0x02, 0x01, 0x10, 0x08
_ISN = {Role.CLIENT: 0x1000_0000, Role.SERVER: 0x2000_0000}


@dataclass(frozen=True)
class Packet:
    """One synthesized frame and its capture time (seconds since the epoch)."""

    time: float
    frame: bytes


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(
    src: Role,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes,
    ip_id: int,
    ports: tuple[int, int] = (CLIENT_PORT, SERVER_PORT),
) -> bytes:
    cport, sport_ = ports
    if src is Role.CLIENT:
        sip, dip, sport, dport = CLIENT_IP, SERVER_IP, cport, sport_
        smac, dmac = CLIENT_MAC, SERVER_MAC
    else:
        sip, dip, sport, dport = SERVER_IP, CLIENT_IP, sport_, cport
        smac, dmac = SERVER_MAC, CLIENT_MAC
    tcp_len = 20 + len(payload)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    pseudo = sip + dip + struct.pack("!BBH", 0, 6, tcp_len)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, ip_id & 0xFFFF, 0x4000, 64, 6, 0, sip, dip
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dmac + smac + b"\x08\x00" + ip + tcp


def packets(trace: Trace) -> list[Packet]:
    """The frames for every flight in ``trace``, with handshake and teardown."""
    flights = trace.transfers
    if not flights:
        hint = (
            "a socket connection's bytes are recorded only in visible mode: "
            "Connection(ctx, sock=..., visible=True)"
            if trace.blind_socket
            else "nothing crossed a traced wire"
        )
        raise ValueError(f"the trace holds no transfers: {hint}")
    if any(f.length and not f.data for f in flights):
        raise ValueError("the trace was recorded with keep_data=False: no bytes to write")
    return stream_packets([(trace.wall_time(f), f.side, f.data) for f in flights])


def stream_packets(
    segments: Sequence[tuple[float, Role, bytes]],
    *,
    client_port: int = CLIENT_PORT,
    server_port: int = SERVER_PORT,
) -> list[Packet]:
    """The frames of one TCP connection carrying ``segments`` (``(time, sender, bytes)``).

    A three-way handshake at the first segment's time, one PSH segment per
    entry (split above the IPv4 size limit), FIN/ACK exchanges at the last
    one's. The trace's flights and a proxy's deliveries both come here.
    """
    if not segments:
        raise ValueError("no segments: nothing crossed")
    ports = (client_port, server_port)
    nxt = {r: _ISN[r] for r in Role}
    ip_id = {Role.CLIENT: 1, Role.SERVER: 1}
    out: list[Packet] = []

    def emit(t: float, src: Role, flags: int, payload: bytes = b"") -> None:
        dst = Role.SERVER if src is Role.CLIENT else Role.CLIENT
        ack = nxt[dst] if flags & _ACK else 0
        out.append(Packet(t, _frame(src, nxt[src], ack, flags, payload, ip_id[src], ports)))
        ip_id[src] += 1
        nxt[src] = (nxt[src] + len(payload) + (1 if flags & (_SYN | _FIN) else 0)) & 0xFFFFFFFF

    t0 = segments[0][0]
    emit(t0, Role.CLIENT, _SYN)
    emit(t0, Role.SERVER, _SYN | _ACK)
    emit(t0, Role.CLIENT, _ACK)
    for t, side, data in segments:
        for i in range(0, len(data), MAX_SEGMENT):
            emit(t, side, _PSH | _ACK, data[i : i + MAX_SEGMENT])
    t1 = segments[-1][0]
    emit(t1, Role.CLIENT, _FIN | _ACK)
    emit(t1, Role.SERVER, _FIN | _ACK)
    emit(t1, Role.CLIENT, _ACK)
    return out


def _split_time(t: float, resolution: int) -> int:
    return round(t * resolution)


def pcap_bytes(pkts: Iterable[Packet]) -> bytes:
    """A classic pcap file (microsecond timestamps, Ethernet link type)."""
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)]
    for p in pkts:
        sec, usec = divmod(_split_time(p.time, 1_000_000), 1_000_000)
        parts.append(struct.pack("<IIII", sec, usec, len(p.frame), len(p.frame)))
        parts.append(p.frame)
    return b"".join(parts)


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_bytes(pkts: Iterable[Packet], keylog: Iterable[str] = ()) -> bytes:
    """A pcapng file: SHB, IDB, a Decryption Secrets Block (if ``keylog``), one EPB per frame."""
    app = _option(4, b"ossl-handshake") + _option(0, b"")
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + app)
    idb_opts = _option(2, b"memory-wire") + _option(9, bytes([6])) + _option(0, b"")
    idb = _block(0x00000001, struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN) + idb_opts)
    parts = [shb, idb]
    lines = list(keylog)
    if lines:
        secrets = "".join(line + "\n" for line in lines).encode("ascii")
        parts.append(
            _block(0x0000000A, struct.pack("<II", SECRETS_TYPE_TLS, len(secrets)) + secrets)
        )
    for p in pkts:
        ts = _split_time(p.time, 1_000_000)
        n = len(p.frame)
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, n, n) + p.frame
        parts.append(_block(0x00000006, body))
    return b"".join(parts)


def write_pcap(trace: Trace, path: str | os.PathLike[str]) -> None:
    """Write the trace's flights as a classic pcap file."""
    data = pcap_bytes(packets(trace))
    with open(path, "wb") as f:
        f.write(data)


def write_pcapng(trace: Trace, path: str | os.PathLike[str], *, secrets: bool = True) -> None:
    """Write the trace's flights as pcapng; ``secrets`` embeds its key log (DSB)."""
    data = pcapng_bytes(packets(trace), trace.keylog_lines if secrets else ())
    with open(path, "wb") as f:
        f.write(data)


__all__ = [
    "CLIENT_PORT",
    "SERVER_PORT",
    "Packet",
    "checksum",
    "packets",
    "pcap_bytes",
    "pcapng_bytes",
    "stream_packets",
    "write_pcap",
    "write_pcapng",
]
