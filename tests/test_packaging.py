"""Packaging: the sdist carries the build inputs, and its wheel runs from a clean venv.

The tracked source tree is copied to a temporary directory (so the build
never touches the checkout other work happens in), ``python -m build
--no-isolation`` makes the sdist and builds the wheel *from that sdist*, and
the wheel goes into a plain venv (no system site-packages) where
``ossl-handshake demo`` must work from an unrelated directory with the
certificates that ship inside the package (``ossl_handshake/_pki``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[1]
#: Where this machine keeps already-downloaded wheels (cffi, pycparser); when
#: absent, the fresh venv gets cffi from the package index instead.
LOCAL_WHEELS = [Path("/opt/pypi/files")]


def run(cmd: list[str], *, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{cmd} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc.stdout


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: cannot list the tracked source files")
    src = tmp_path_factory.mktemp("src")
    files = run(["git", "ls-files", "-z"], cwd=REPO, timeout=30).split("\0")
    for name in filter(None, files):
        origin = REPO / name
        if origin.is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, src / name)
    out = tmp_path_factory.mktemp("dist")
    # No --sdist/--wheel: build makes the sdist, then the wheel from it.
    run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out)],
        cwd=src,
        timeout=180,
    )
    return out


def test_sdist_contains_build_inputs_and_certificates(dist: Path) -> None:
    (sdist,) = dist.glob("ossl_handshake-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"ossl_build.py", "setup.py", "pyproject.toml", "README.md"} <= names
    build = "src/ossl_handshake/_build/"
    assert {f"{build}builder.py", f"{build}locate.py", f"{build}glue.h"} <= names
    assert {f"{build}cdef/types.h", f"{build}cdef/callbacks.h"} <= names
    assert {f"{build}glue/step.c", f"{build}glue/drive.c", f"{build}glue/openssl.h"} <= names
    pems = {n for n in names if n.startswith("certs/") and n.endswith(".pem")}
    assert {"certs/ca.pem", "certs/server-ecdsa.pem", "certs/expired.pem"} <= pems
    assert "certs/gen.sh" in names
    assert not any(n.endswith(".so") for n in names), "a built extension leaked into the sdist"


def test_wheel_carries_extension_and_pki(dist: Path) -> None:
    (wheel,) = dist.glob("ossl_handshake-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert any(n.startswith("ossl_handshake/_ossl") and n.endswith(".so") for n in names)
    assert {"ossl_handshake/_pki/ca.pem", "ossl_handshake/_pki/server-ecdsa.key"} <= names
    assert "ossl_handshake/py.typed" in names


def test_wheel_in_clean_venv_runs_demo_with_packaged_certificates(
    dist: Path, tmp_path: Path
) -> None:
    (wheel,) = dist.glob("ossl_handshake-*.whl")
    venv = tmp_path / "venv"
    # A plain venv without pip (ensurepip is the slow part); this pip installs into it.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, timeout=120)
    py = venv / "bin" / "python"
    env = clean_env()
    local = [d for d in LOCAL_WHEELS if any(d.glob("cffi-*.whl"))]
    source = ["--no-index", "--find-links", str(local[0])] if local else []
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "-q", *source]
    run([*pip, str(wheel)], cwd=tmp_path, timeout=180, env=env)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run([str(venv / "bin" / "ossl-handshake"), "demo"], cwd=elsewhere, timeout=60, env=env)
    assert "SSL negotiation finished successfully" in out
    assert "verify=0 (ok)" in out
    out = run([str(py), "-m", "ossl_handshake", "demo", "--tls", "1.2"], cwd=elsewhere, timeout=60)
    assert "TLSv1.2" in out

    where = run(
        [
            str(py),
            "-c",
            "import ossl_handshake, ossl_handshake.certs as c; "
            "print(ossl_handshake.__file__); print(c.DIR); print(c.SERVER_ECDSA.cert)",
        ],
        cwd=elsewhere,
        timeout=60,
        env=env,
    ).splitlines()
    package = Path(where[0]).resolve().parent
    assert package.is_relative_to(venv.resolve()), f"imported {package}, not the venv's copy"
    assert Path(where[1]).resolve() == package / "_pki"
    assert Path(where[2]).resolve() == package / "_pki" / "server-ecdsa.pem"
