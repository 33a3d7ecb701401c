"""The README's Python examples run as written.

The ```python blocks are extracted and run in order in one namespace (later
examples reuse the contexts of the first), in a subprocess with a timeout so
that a blocking-socket example that hangs fails instead of stalling the suite.
The working directory is prepared as the README tells a reader to: the
adoption example loads ``./libsslmaker.so`` built from ``tests/c/sslmaker.c``.
Blocks marked ``<!-- plugin-example -->`` are pytest files, run by
``tests/test_pytest_plugin.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.c.build import compile_c, have_compiler

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SSLMAKER = ROOT / "tests" / "c" / "sslmaker.c"
BLOCK = re.compile(r"(<!-- plugin-example -->\n)?^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[str]:
    """The runnable ```python blocks, in order (pytest example files left out)."""
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    return [code for marker, code in found if not marker]


def test_readme_has_memory_and_socket_examples() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 3
    joined = "\n".join(blocks)
    assert "memory_pair(" in joined and "handshake(" in joined
    assert "sock=" in joined and "do_handshake()" in joined


@pytest.mark.timeout(60)
def test_readme_python_examples_run(tmp_path: Path) -> None:
    blocks = python_blocks()
    script = tmp_path / "readme_examples.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    if any("libsslmaker.so" in b for b in blocks):
        if not have_compiler():
            pytest.skip("no C compiler: cannot build libsslmaker.so for the adoption example")
        compile_c(SSLMAKER, tmp_path / "libsslmaker.so", shared=True)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # The first example prints the negotiated version and cipher, then each step.
    assert lines[0].split()[0] == "TLSv1.3"
    assert any(line.startswith("client 1 NONE") for line in lines[1:])
    assert any(line.startswith("server 1 NONE") for line in lines[1:])
