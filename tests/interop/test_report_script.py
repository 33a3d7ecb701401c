"""``scripts/interop_report.py`` renders what the results file says, cell by cell."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "interop_report.py"


@pytest.fixture(scope="module")
def report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("interop_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _result(outcome: str, **cell: str) -> dict[str, Any]:
    base = {"peer": "gnutls", "ours": "client", "version": "1.3", "key": "ecdsa"}
    base.update(auth="server", mode="full", alpn="none")
    base.update(cell)
    return {
        "nodeid": f"x::{outcome}",
        "kind": "matrix",
        "cell": base,
        "outcome": outcome,
        "reason": "peer cannot"
        if outcome == "skipped"
        else ("boom" if outcome == "failed" else None),
        "duration": 0.5,
        "notes": [],
        "observed": None,
        "peer_saw": None,
    }


def _data(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "generated": "2026-01-01T00:00:00+00:00",
        "platform": "test",
        "versions": {"gnutls": "gnutls-cli 9.9", "ossl-handshake": "0.1.0"},
        "results": results,
    }


def test_report_marks_passed_failed_and_not_applicable_cells(report: ModuleType) -> None:
    text = report.render(
        _data(
            [
                _result("passed"),
                _result("failed", mode="resumed"),
                _result("skipped", auth="mutual"),
            ]
        )
    )
    row = next(line for line in text.splitlines() if line.startswith("| client | 1.3 | ECDSA"))
    cols = [c.strip() for c in row.strip("|").split("|")]
    # columns: ours, TLS, key, then server-only full, full+ALPN, resumed, resumed+ALPN, mutual full
    assert cols[3] == "✅"
    assert cols[5] == "❌"
    assert cols[7].startswith("n/a<sup>")
    assert "gnutls-cli 9.9" in text
    assert "| GnuTLS | 3 | 1 | 1 | 1 | 1.5 |" in text
    assert "peer cannot" in text  # the skip reason is shown as a footnote
    assert "`x::failed`: boom" in text


def test_report_cli_renders_a_results_file(report: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_data([_result("passed")])))
    out = tmp_path / "interop.md"
    assert report.main(["--results", str(results), "--output", str(out)]) == 0
    assert out.read_text().startswith("# Interoperability matrix")
