"""``bench/cli_throughput.py`` still runs end to end and prints the documented figures.

One short round per server against ``openssl s_time``, no assertion on any
rate (a shared machine makes them meaningless): what matters is that both
servers served connections under the same client, that the CPU per
connection was read, and that the JSON has the shape
``docs/guide/cli-server-pool.md`` documents.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "cli_throughput.py"

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command (s_time)"),
]


def test_cli_throughput_measures_both_servers_under_s_time(tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    cmd = [sys.executable, str(BENCH), "--seconds", "1", "--rounds", "1", "--tls", "1.3"]
    proc = subprocess.run(
        [*cmd, "--workers", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    figures = json.loads(out.read_text())
    assert json.loads(proc.stdout) == figures
    assert figures["workers"] == 2
    assert len(figures["load_before"]) == len(figures["load_after"]) == 3
    assert list(figures["tls"]) == ["1.3"]
    tls13 = figures["tls"]["1.3"]
    for server in ("s_server", "ossl_handshake"):
        (rate,) = tls13[f"{server}_per_s"]
        assert rate > 0, (server, tls13)
        cpu = tls13[f"{server}_cpu_ms_per_conn"]  # /proc ticks: may round to 0 on a short run
        assert cpu is not None and cpu >= 0, (server, tls13)
    (ratio,) = tls13["ossl_handshake_ratio_per_round"]
    assert tls13["ossl_handshake_ratio_median"] == ratio > 0
