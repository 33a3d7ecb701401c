"""Every example in README.md and docs/**/*.md runs as written.

One page is one script: its ```python blocks, in order, in one namespace (a
later block reuses the contexts of the first), run in a subprocess with a
timeout in a scratch directory, so that a blocking-socket example that hangs
fails instead of stalling the suite and files an example writes land there.
The scratch directory is prepared as the page tells a reader to: a page whose
code loads ``./libsslmaker.so`` gets it built from ``tests/c/sslmaker.c``.

An HTML comment on the line before a block says how else to treat it:

- ``<!-- pytest-file -->``: the block is a test file; it runs under pytest,
  with the package's plugin loaded from its entry point, and must pass;
- ``<!-- shell-example -->`` on a ```sh block: run with bash, with
  ``ossl-handshake``, ``./tls_client`` (``tests/c/tls_client.c``) and
  ``certs/`` at hand;
- ``<!-- no-run: REASON -->``: not run, for the reason given (kept rare;
  :func:`test_no_run_blocks_are_few_and_say_why` counts them);
- ``<!-- NAME-example -->`` (e.g. ``adopt-example``): a label other tests can
  find the block by; it runs like an unmarked block.

Other ```sh/```text blocks are commands and output for a reader, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ossl_handshake import FEATURES, certs
from tests.c.build import compile_c, have_compiler

ROOT = Path(__file__).resolve().parents[1]
SSLMAKER = ROOT / "tests" / "c" / "sslmaker.c"
PAUSE_PROVIDER = ROOT / "tests" / "c" / "pause_provider.c"
TIMEOUT = 60
#: At most this many python blocks may be marked no-run across all pages.
MAX_NO_RUN = 6

#: An optional marker comment, then a fenced block: ```lang ... ```.
BLOCK = re.compile(
    r"(?:^<!--\s*(?P<marker>[^>]*?)\s*-->\n)?^```(?P<lang>[\w-]*)\n(?P<code>.*?)^```\s*$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    page: str  # path relative to the repository root
    line: int
    lang: str
    marker: str
    code: str

    @property
    def runs_in_page(self) -> bool:
        """Part of its page's script: unmarked or only labelled (``NAME-example``)."""
        return self.lang == "python" and (not self.marker or self.marker.endswith("-example"))

    @property
    def no_run(self) -> str | None:
        """The reason given by ``<!-- no-run: REASON -->``, else None."""
        if self.marker.startswith("no-run"):
            return self.marker.partition(":")[2].strip()
        return None


def pages() -> list[Path]:
    """README.md and every page under docs/, in a stable order."""
    if not (ROOT / "docs").is_dir():
        return []
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    rel = page.relative_to(ROOT).as_posix()
    return [
        Block(
            page=rel,
            line=text.count("\n", 0, m.start("code")) + 1,
            lang=m.group("lang"),
            marker=(m.group("marker") or "").strip(),
            code=m.group("code"),
        )
        for m in BLOCK.finditer(text)
    ]


ALL_BLOCKS = [b for p in pages() for b in blocks_of(p)]
PYTHON = [b for b in ALL_BLOCKS if b.lang == "python"]
SCRIPT_PAGES = sorted(
    {b.page for b in PYTHON if b.runs_in_page},
    key=[p.relative_to(ROOT).as_posix() for p in pages()].index,
)
PYTEST_FILES = [b for b in PYTHON if b.marker == "pytest-file"]
SHELL = [b for b in ALL_BLOCKS if b.lang == "sh" and b.marker == "shell-example"]


def block_id(b: Block) -> str:
    return f"{b.page}:{b.line}"


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_pages_have_examples() -> None:
    if not ALL_BLOCKS:
        pytest.skip("README.md and docs/ are not next to the tests (installed package run)")
    readme = "\n".join(b.code for b in PYTHON if b.page == "README.md")
    assert "memory_pair(" in readme and "handshake(" in readme
    assert "ossl_handshake.wire" in readme
    assert SHELL, "the C-program page lost its shell example"
    assert PYTEST_FILES or any(b.page.endswith("pytest-plugin.md") for b in PYTHON)


def test_no_run_blocks_are_few_and_say_why() -> None:
    for b in PYTHON:
        known = b.runs_in_page or b.marker == "pytest-file" or b.no_run is not None
        assert known, f"{block_id(b)}: unknown marker {b.marker!r}"
        if b.no_run is not None:
            assert b.no_run, f"{block_id(b)}: a no-run block must say why"
    skipped = [block_id(b) for b in PYTHON if b.no_run is not None]
    assert len(skipped) <= MAX_NO_RUN, skipped


@pytest.mark.parametrize("page", SCRIPT_PAGES)
@pytest.mark.timeout(TIMEOUT + 30)
def test_page_examples_run(page: str, tmp_path: Path) -> None:
    code = [b for b in PYTHON if b.page == page and b.runs_in_page]
    # A comment before each block names its page and line for the reader of a traceback.
    script = "".join(f"# ---- {b.page}:{b.line}\n{b.code}\n" for b in code)
    path = tmp_path / (Path(page).stem + "_examples.py")
    path.write_text(script, encoding="utf-8")
    if "libsslmaker.so" in script:
        if not have_compiler():
            pytest.skip("no C compiler: cannot build libsslmaker.so for the adoption example")
        compile_c(SSLMAKER, tmp_path / "libsslmaker.so", shared=True)
    if "pause_provider.so" in script:  # docs/guide/async.md: the test provider
        if not FEATURES["providers"]:
            pytest.skip(f"{page}: providers need OpenSSL 3.0 (FEATURES['providers'])")
        if not have_compiler():
            pytest.skip("no C compiler: cannot build pause_provider.so for the async example")
        compile_c(PAUSE_PROVIDER, tmp_path / "pause_provider.so", shared=True)
    proc = run([sys.executable, str(path)], cwd=tmp_path)
    assert proc.returncode == 0, f"{page}:\n{proc.stderr}"
    if page == "README.md":
        # The first example prints the negotiated version and cipher, then each step.
        lines = proc.stdout.splitlines()
        assert lines[0].split()[0] == "TLSv1.3"
        assert any(line.startswith("client 1 NONE") for line in lines[1:])


@pytest.mark.parametrize("block", PYTEST_FILES, ids=block_id)
@pytest.mark.timeout(TIMEOUT + 30)
def test_pytest_file_example_passes(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(block.code, encoding="utf-8")
    # No -p option for the plugin: it is found through its pytest11 entry point.
    proc = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, f"{block_id(block)}:\n{proc.stdout}\n{proc.stderr}"
    assert re.search(r"\b\d+ passed\b", proc.stdout), proc.stdout


@pytest.mark.parametrize("block", SHELL, ids=block_id)
@pytest.mark.timeout(TIMEOUT + 60)
def test_shell_example_runs(block: Block, tls_client_exe: Path, tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("no bash to run the shell example")
    (tmp_path / "certs").symlink_to(certs.DIR)
    (tmp_path / "tls_client").symlink_to(tls_client_exe)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "ossl-handshake"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ossl_handshake "$@"\n')
    launcher.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = run(["bash", "-e", "-c", block.code], cwd=tmp_path, env=env)
    assert proc.returncode == 0, f"{block_id(block)}:\n{proc.stdout}\n{proc.stderr}"
