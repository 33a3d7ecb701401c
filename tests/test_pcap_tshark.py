"""Captures of in-memory handshakes, decoded and decrypted by the real tshark."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ossl_handshake import Context, Role, certs, handshake, memory_pair
from ossl_handshake.observe import pcap
from ossl_handshake.observe.trace import Trace

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")

CLIENT_DATA = b"GET /hello over a traced wire"
SERVER_DATA = b"hello back from the server"


@pytest.fixture(scope="module")
def server_ctx() -> Context:
    return Context(Role.SERVER, cert=certs.SERVER_ECDSA.cert, key=certs.SERVER_ECDSA.key)


def run_traced(server_ctx: Context, version: str) -> Trace:
    """A traced handshake plus one application-data flight each way."""
    trace = Trace()
    client_ctx = Context(Role.CLIENT, cafile=certs.CA, max_version=version, min_version=version)
    client_ctx.set_keylog(trace.keylog_line)
    client, server = memory_pair(client_ctx, server_ctx, server_name="localhost")
    try:
        handshake(client, server, trace=trace)
        client.write(CLIENT_DATA)
        trace.transfer(client, server)
        assert server.read(100) == CLIENT_DATA
        server.write(SERVER_DATA)
        trace.transfer(server, client)
        assert client.read(100) == SERVER_DATA
    finally:
        client.close()
        server.close()
    return trace


def tshark(capture: Path, *args: str) -> list[str]:
    assert TSHARK is not None
    proc = subprocess.run(
        [
            TSHARK,
            "-n",
            "-r",
            str(capture),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line.strip()]


def handshake_types(lines: list[str]) -> list[int]:
    return [int(t) for line in lines for t in line.split("\t")[0].split(",") if t]


def decrypted_data(lines: list[str]) -> list[bytes]:
    cells = [line.split("\t") for line in lines]
    return [bytes.fromhex(c[1]) for c in cells if len(c) > 1 and c[1]]


FIELDS = ("-T", "fields", "-e", "tls.handshake.type", "-e", "data.data")


def assert_clean_tcp(capture: Path, trace: Trace) -> None:
    """Every checksum verifies and TCP analysis finds no lost, retransmitted or odd segment."""
    fields = ("tcp.len", "ip.checksum.status", "tcp.checksum.status", "tcp.analysis.flags")
    rows = [line.split("\t") for line in tshark(capture, "-T", "fields", *_e(fields))]
    assert all(r[1:3] == ["1", "1"] for r in rows), rows  # 1 = checksum good
    assert all(len(r) < 4 or not r[3] for r in rows), rows
    data_frames = [int(r[0]) for r in rows if int(r[0]) > 0]
    assert data_frames == [t.length for t in trace.transfers]
    assert len(rows) == len(trace.transfers) + 6  # 3-way handshake + FIN/FIN/ACK


def _e(fields: tuple[str, ...]) -> list[str]:
    return [arg for f in fields for arg in ("-e", f)]


@pytest.mark.timeout(60)
@needs_tshark
def test_tshark_decrypts_a_tls13_capture_with_the_key_log(
    server_ctx: Context, tmp_path: Path
) -> None:
    trace = run_traced(server_ctx, "1.3")
    cap, keys = tmp_path / "tls13.pcap", tmp_path / "tls13.keys"
    trace.write_pcap(cap)
    trace.write_keylog(keys)
    lines = tshark(cap, "-o", f"tls.keylog_file:{keys}", "-Y", "tls", *FIELDS)
    types = handshake_types(lines)
    # ClientHello, ServerHello, then the encrypted EncryptedExtensions,
    # Certificate, CertificateVerify, Finished, client Finished, tickets.
    assert types[:2] == [1, 2]
    assert types[2:6] == [8, 11, 15, 20]
    assert types[6] == 20 and 4 in types[7:]
    assert decrypted_data(lines) == [CLIENT_DATA, SERVER_DATA]
    assert_clean_tcp(cap, trace)


@pytest.mark.timeout(60)
@needs_tshark
def test_tls13_capture_without_keys_hides_the_encrypted_messages(
    server_ctx: Context, tmp_path: Path
) -> None:
    trace = run_traced(server_ctx, "1.3")
    cap = tmp_path / "nokeys.pcap"
    trace.write_pcap(cap)
    lines = tshark(cap, "-Y", "tls", *FIELDS)
    assert handshake_types(lines) == [1, 2]
    assert decrypted_data(lines) == []


@pytest.mark.timeout(60)
@needs_tshark
def test_pcapng_with_embedded_secrets_decrypts_without_a_key_file(
    server_ctx: Context, tmp_path: Path
) -> None:
    trace = run_traced(server_ctx, "1.3")
    cap = tmp_path / "tls13.pcapng"
    trace.write_pcapng(cap)
    lines = tshark(cap, "-Y", "tls", *FIELDS)
    types = handshake_types(lines)
    assert {8, 11, 15, 20, 4} <= set(types)
    assert decrypted_data(lines) == [CLIENT_DATA, SERVER_DATA]
    assert_clean_tcp(cap, trace)
    # The same pcapng without the Decryption Secrets Block stays encrypted.
    bare = tmp_path / "bare.pcapng"
    trace.write_pcapng(bare, secrets=False)
    assert handshake_types(tshark(bare, "-Y", "tls", *FIELDS)) == [1, 2]


@pytest.mark.timeout(60)
@needs_tshark
def test_tshark_decrypts_a_tls12_capture(server_ctx: Context, tmp_path: Path) -> None:
    trace = run_traced(server_ctx, "1.2")
    cap, keys = tmp_path / "tls12.pcap", tmp_path / "tls12.keys"
    trace.write_pcap(cap)
    trace.write_keylog(keys)
    lines = tshark(cap, "-o", f"tls.keylog_file:{keys}", "-Y", "tls", *FIELDS)
    # ClientHello; ServerHello Certificate ServerKeyExchange ServerHelloDone;
    # ClientKeyExchange Finished; NewSessionTicket Finished (Finished decrypted).
    assert handshake_types(lines) == [1, 2, 11, 12, 14, 16, 20, 4, 20]
    assert decrypted_data(lines) == [CLIENT_DATA, SERVER_DATA]
    assert_clean_tcp(cap, trace)


def test_synthesized_segments_carry_valid_checksums_and_sequence_numbers(
    server_ctx: Context,
) -> None:
    trace = run_traced(server_ctx, "1.3")
    frames = pcap.packets(trace)
    seq: dict[bytes, int] = {}
    for p in frames:
        ip = p.frame[14:34]
        assert pcap.checksum(ip) == 0
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = p.frame[34 : 14 + total]
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
        assert pcap.checksum(pseudo + tcp) == 0
        src = ip[12:16]
        s, flags = struct.unpack("!I", tcp[4:8])[0], tcp[13]
        if src in seq:
            assert s == seq[src]
        payload = len(tcp) - 20
        seq[src] = s + payload + (1 if flags & 0x03 else 0)
    payloads = [len(p.frame) - 54 for p in frames if len(p.frame) > 54]
    assert payloads == [t.length for t in trace.transfers]


def test_classic_pcap_and_pcapng_headers(server_ctx: Context, tmp_path: Path) -> None:
    trace = run_traced(server_ctx, "1.3")
    cap, ng = tmp_path / "a.pcap", tmp_path / "a.pcapng"
    trace.write_pcap(cap)
    trace.write_pcapng(ng)
    raw = cap.read_bytes()
    assert struct.unpack("<IHHiIII", raw[:24])[0::6] == (0xA1B2C3D4, pcap.LINKTYPE_ETHERNET)
    blob = ng.read_bytes()
    assert struct.unpack("<I", blob[:4])[0] == 0x0A0D0D0A
    secrets = "".join(line + "\n" for line in trace.keylog_lines).encode()
    dsb = blob.index(struct.pack("<II", pcap.SECRETS_TYPE_TLS, len(secrets)))
    assert struct.unpack("<I", blob[dsb - 8 : dsb - 4])[0] == 0x0000000A
    assert blob[dsb + 8 : dsb + 8 + len(secrets)] == secrets


def test_exporting_a_trace_without_transfers_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no transfers"):
        Trace().write_pcap(tmp_path / "empty.pcap")


def test_a_flight_above_the_ipv4_limit_is_split_into_consecutive_segments() -> None:
    trace = Trace()
    trace.on_transfer(Role.CLIENT, b"\x17" * 70000)
    trace.on_transfer(Role.SERVER, b"\x17" * 10)
    frames = pcap.packets(trace)
    sizes = [len(p.frame) - 54 for p in frames]
    assert sizes == [0, 0, 0, pcap.MAX_SEGMENT, 70000 - pcap.MAX_SEGMENT, 10, 0, 0, 0]
    first, second = (struct.unpack("!I", p.frame[38:42])[0] for p in frames[3:5])
    assert second - first == pcap.MAX_SEGMENT
    server_ack = struct.unpack("!I", frames[5].frame[42:46])[0]
    assert server_ack == first + 70000
