"""The layers of docs/architecture.md as a user meets them: the pure wire-format
code imports without libssl, and the import contract holds."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

BLOCK_LIBSSL = """
import sys
sys.modules["ossl_handshake._ossl"] = None  # importing it now raises ImportError
import ossl_handshake.tls.records, ossl_handshake.tls.names, ossl_handshake.wire
from ossl_handshake.wire import Corrupt, Select, Wire
from ossl_handshake.tls.roles import Role
assert "ossl_handshake._native" not in sys.modules, sorted(sys.modules)
print("ok")
"""


def test_wire_format_code_imports_without_libssl() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_LIBSSL], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_the_root_package_still_offers_every_public_name() -> None:
    import ossl_handshake

    for name in ossl_handshake.__all__:
        assert getattr(ossl_handshake, name) is not None, name
    with pytest.raises(AttributeError):
        _ = ossl_handshake.no_such_name  # type: ignore[attr-defined]


def test_import_contract_holds() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a test dependency (pyproject [test])"
    proc = subprocess.run(
        [exe, str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
