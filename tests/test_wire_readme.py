"""The README's "Breaking the wire" example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_breaking_the_wire_example_runs() -> None:
    if not README.exists():
        pytest.skip("README.md is not next to the tests (installed package run)")
    text = README.read_text()
    section = text.split("## Breaking the wire", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the section has no python example"
    for code in blocks:
        exec(compile(code, f"{README}:Breaking the wire", "exec"), {})
