"""``ossl-handshake trace``: ladder on stdout, capture files, exit codes."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ossl_handshake.cli.main import EXIT_OK, EXIT_USAGE, EXIT_VERIFY, main
from tests._openssl import VERIFY_TEXT
from tests._peers import tshark_fields


def test_trace_command_prints_the_ladder_and_writes_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {k: tmp_path / f"out.{k}" for k in ("pcap", "pcapng", "keylog", "svg", "json")}
    argv = ["trace", "--send", "hello"]
    for k, p in files.items():
        argv += [f"--{k}", str(p)]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "ClientHello" in out and "EncryptedExtensions" in out
    assert "* client done" in out and "server done" in out
    assert "result: TLSv1.3" in out
    keys = files["keylog"].read_text().splitlines()
    assert any(line.startswith("CLIENT_TRAFFIC_SECRET_0 ") for line in keys)
    assert files["pcap"].read_bytes()[:4] == bytes.fromhex("d4c3b2a1")
    assert files["pcapng"].read_bytes()[:4] == bytes.fromhex("0a0d0d0a")
    root = ET.parse(files["svg"]).getroot()
    flights = [
        e
        for e in root.iter("{http://www.w3.org/2000/svg}line")
        if "flight" in (e.get("class") or "")
    ]
    doc = json.loads(files["json"].read_text())
    [run] = doc["handshakes"]
    assert run["result"]["ok"] is True
    transfers = [e for e in run["events"] if e["kind"] == "transfer"]
    assert len(flights) == len(transfers) == 6  # 4 handshake flights + data and echo
    assert run["keylog"] == keys


def test_trace_command_with_wrong_hostname_exits_3_and_draws_the_alert(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["trace", "--sni", "wrong.example"]) == EXIT_VERIFY
    out = capsys.readouterr().out
    assert "alert: bad_certificate (fatal)" in out
    assert "|x- - " in out
    assert "client FAILED" in out and VERIFY_TEXT[62] in out


def test_trace_command_resume_traces_both_handshakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    js = tmp_path / "r.json"
    assert main(["trace", "--tls", "1.2", "--resume", "--json", str(js)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "== full handshake ==" in out and "== resumed handshake ==" in out
    full, resumed = json.loads(js.read_text())["handshakes"]
    assert full["result"]["client"]["session_reused"] is False
    assert resumed["result"]["client"]["session_reused"] is True
    sent = [
        e["handshake_type"]
        for e in resumed["events"]
        if e["kind"] == "message"
        and e["side"] == "server"
        and e["direction"] == "sent"
        and e["handshake_type"]
    ]
    assert "Certificate" not in sent and sent[0] == "ServerHello"


def test_trace_command_rejects_bad_flags() -> None:
    assert main(["trace", "--tls", "9.9"]) == EXIT_USAGE
    assert main(["trace", "--no-such-flag"]) == EXIT_USAGE


@pytest.mark.timeout(60)
def test_trace_command_pcapng_decrypts_in_tshark(tmp_path: Path) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    ng = tmp_path / "cli.pcapng"
    assert main(["trace", "--send", "over the wire", "--pcapng", str(ng)]) == EXIT_OK
    out = tshark_fields(ng, "data", "data.data")
    assert [bytes.fromhex(x) for x in out.split()] == [b"over the wire"] * 2
