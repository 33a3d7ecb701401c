"""``--pcapng`` and ``--keylog`` on ``ossl-handshake server`` and ``client``, read back by tshark.

Both peers are processes on loopback; each writes a capture of its own
connection (recorded in visible mode, ``Connection(..., visible=True)``) with the key log
embedded, and tshark decrypts the application data from either file.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ossl_handshake.cli.main import EXIT_OK, EXIT_TLS
from ossl_handshake.cli.peers import capture_path
from tests._peers import TIMEOUT, CliServer, cli, handshakes, run
from tests._probes import probe

pytestmark = pytest.mark.timeout(60)

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def decrypted(capture: Path) -> list[str]:
    """``content type, handshake types, decrypted data`` per TLS frame, from tshark."""
    assert TSHARK is not None
    proc = subprocess.run(
        [TSHARK, "-n", "-r", str(capture), "-Y", "tls", "-T", "fields",
         "-e", "tls.record.content_type", "-e", "tls.handshake.type", "-e", "data"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@needs_tshark
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_server_and_client_captures_decrypt_in_tshark(tmp_path: Path, version: str) -> None:
    server = CliServer("--echo", "--pcapng", str(tmp_path / "server.pcapng"))
    rc, out, err = run(
        cli("client", "--connect", f"127.0.0.1:{server.port}", "--tls", version,
            "--send-line", "hello", "--expect", r"hello\r\n",
            "--pcapng", str(tmp_path / "client.pcapng"), "--keylog", str(tmp_path / "keys.txt"))
    )  # fmt: skip
    src, sout, _ = server.finish()
    assert rc == EXIT_OK, (out, err)
    assert src == EXIT_OK
    assert handshakes(sout)[0]["data"]["received"] == "hello\r\n"
    hello = b"hello\r\n".hex()
    for name in ("server.pcapng", "client.pcapng"):
        frames = decrypted(tmp_path / name)
        assert any(f.endswith(hello) for f in frames), (name, frames)  # both directions
        assert len([f for f in frames if f.endswith(hello)]) == 2, (name, frames)
        assert frames[0].split("\t")[:2] == ["22", "1"], frames  # ClientHello first
        types = {t for f in frames for t in f.split("\t")[1].split(",")}
        assert {"2", "11", "20"} <= types, frames  # ServerHello, Certificate, Finished
    keys = (tmp_path / "keys.txt").read_text()
    label = "CLIENT_TRAFFIC_SECRET_0" if version == "1.3" else "CLIENT_RANDOM"
    assert label in keys


@needs_tshark
def test_a_capture_shows_the_alert_of_a_malformed_record(tmp_path: Path) -> None:
    server = CliServer("--www", "--pcapng", str(tmp_path / "server.pcapng"))
    seen = probe(server.port, "bad-mac", "1.3")
    rc, sout, _ = server.finish()
    assert seen.alert == "bad_record_mac"  # the relay passed the alert through
    assert rc == EXIT_TLS
    assert handshakes(sout)[0]["error"]["phase"] == "data"
    frames = decrypted(tmp_path / "server.pcapng")
    assert frames[-1].split("\t")[0] == "21", frames  # the last record: the server's alert


def test_one_capture_file_per_connection(tmp_path: Path) -> None:
    template = str(tmp_path / "conn.pcapng")
    server = CliServer("--accept", "2", "--pcapng", template)
    rc, _, err = run(cli("client", "--connect", f"127.0.0.1:{server.port}", "--resume", "1"))
    src, _, _ = server.finish()
    assert rc == EXIT_OK, err
    assert src == EXIT_OK
    first, second = capture_path(template, 0), capture_path(template, 1)
    assert (first.name, second.name) == ("conn.pcapng", "conn-1.pcapng")
    for f in (first, second):
        assert f.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"  # a pcapng Section Header Block


@pytest.fixture
def resetting_server() -> Iterator[int]:
    """A TCP server that reads the start of the ClientHello and answers with a reset (RST)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def serve() -> None:
            with contextlib.suppress(OSError):
                s, _ = listener.accept()
                s.recv(5)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()  # SO_LINGER 0: the close is a reset, not a FIN

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        yield listener.getsockname()[1]
        t.join(TIMEOUT)


@pytest.mark.parametrize("mode", ["plain", "pcapng", "trace"])
def test_a_peer_reset_is_reported_as_a_reset_in_every_mode(
    tmp_path: Path, resetting_server: int, mode: str
) -> None:
    capture = tmp_path / "reset.pcapng"
    extra = {"plain": [], "pcapng": ["--pcapng", str(capture)], "trace": ["--trace"]}[mode]
    rc, out, err = run(cli("client", "--connect", f"127.0.0.1:{resetting_server}", *extra))
    (line,) = handshakes(out)
    assert rc == EXIT_TLS, (out, err)
    assert line["error"]["class"] == "SyscallError", line
    assert line["error"]["phase"] == "handshake"
    assert f"errno {errno.ECONNRESET}" in line["error"]["message"], line  # a reset, not EOF
    if mode == "pcapng":  # the capture still holds the ClientHello sent before the reset
        data = capture.read_bytes()
        assert data[:4] == b"\x0a\x0d\x0d\x0a", data[:16]
        assert b"\x16\x03\x01" in data  # a handshake record header (TLS 1.0 record version)
    if mode == "trace":
        sent = [e for e in line["trace"] if e.get("kind") == "transfer"]
        assert sent and sent[0]["side"] == "client", line["trace"]
