"""How ossl_build.py finds OpenSSL, and what it says when it cannot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(60)
def test_build_with_openssl_dir_lacking_headers_fails_with_one_clear_message(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "OPENSSL_DIR": str(tmp_path / "no-openssl-here")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "ossl_build.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert proc.returncode != 0
    assert "cannot find <openssl/ssl.h>" in proc.stderr
    assert "OPENSSL_DIR=" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ossl_handshake").exists(), "nothing is generated before the check"


def test_openssl_dir_gives_include_lib_and_rpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "include" / "openssl").mkdir(parents=True)
    (tmp_path / "include" / "openssl" / "ssl.h").write_text("/* stand-in */\n")
    (tmp_path / "lib").mkdir()
    monkeypatch.setenv("OPENSSL_DIR", str(tmp_path))
    sys.path.insert(0, str(ROOT))
    try:
        import importlib

        import ossl_build

        kw = importlib.reload(ossl_build).find_openssl()
    finally:
        sys.path.remove(str(ROOT))
        sys.modules.pop("ossl_build", None)
    assert kw["include_dirs"] == [str(tmp_path / "include")]
    assert kw["library_dirs"] == [str(tmp_path / "lib")]
    assert f"-Wl,-rpath,{tmp_path / 'lib'}" in kw["extra_link_args"]
