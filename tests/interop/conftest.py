"""Interop matrix plumbing: cell metadata on every report, and the results file.

Every matrix test gets its cell's fields as ``user_properties``, plus any
``note``, ``observed`` (what our side saw) and ``peer_saw`` the test records.
When the environment variable ``INTEROP_RESULTS`` names a file, the session
writes every interop result there as JSON (outcome, skip reason, failure
message, duration, cell fields, notes) with the versions of every peer;
``scripts/interop_report.py`` turns that file into ``docs/interop.md``.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

import ossl_handshake

RESULTS_ENV = "INTEROP_RESULTS"
_results: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def _cell_properties(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is None:
        return
    for name in ("cell", "neg"):
        value = callspec.params.get(name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            request.node.user_properties.append(
                ("kind", "matrix" if name == "cell" else "negative")
            )
            request.node.user_properties.append(("cell", dataclasses.asdict(value)))


def _reason(report: pytest.TestReport) -> str | None:
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple):
        return str(longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        crash = getattr(longrepr, "reprcrash", None)
        return str(crash.message) if crash is not None else str(longrepr)[-500:]
    return None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not os.environ.get(RESULTS_ENV):
        return
    props = dict(report.user_properties)
    if "cell" not in props:
        return
    # one entry per test: the call phase, or a setup/teardown that did not pass
    if report.when != "call" and report.passed:
        return
    if report.when == "teardown" and any(r["nodeid"] == report.nodeid for r in _results):
        return
    notes = [v for k, v in report.user_properties if k == "note"]
    _results.append(
        {
            "nodeid": report.nodeid,
            "kind": props["kind"],
            "cell": props["cell"],
            "outcome": report.outcome,
            "reason": _reason(report),
            "duration": round(report.duration, 3),
            "notes": notes,
            "observed": props.get("observed"),
            "peer_saw": props.get("peer_saw"),
        }
    )


def _tool_version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "not installed"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (out.stdout or out.stderr).splitlines()[0].strip()


def peer_versions() -> dict[str, str]:
    """What each peer and our side run as, for the report header."""
    try:
        tlslite = importlib.metadata.version("tlslite-ng")
    except importlib.metadata.PackageNotFoundError:
        tlslite = "not installed"
    return {
        "ossl-handshake": f"{ossl_handshake.__version__} on {ossl_handshake.OPENSSL_VERSION}",
        "gnutls": _tool_version(["gnutls-cli", "--version"]),
        "openssl": _tool_version(["openssl", "version"]),
        "tlslite": f"tlslite-ng {tlslite} (pure Python, python-ecdsa)",
        "stdlib": f"Python {platform.python_version()} ssl on {ssl.OPENSSL_VERSION}",
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get(RESULTS_ENV)
    if not target or not _results:
        return
    data = {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": peer_versions(),
        "results": _results,
    }
    Path(target).write_text(json.dumps(data, indent=1) + "\n")
