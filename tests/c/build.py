"""Compile the C peers in tests/c/ (and the C benchmark loop) against OpenSSL.

Importable as ``tests.c.build`` or straight from its path (it only uses the
standard library and no package-relative imports)::

    from tests.c.build import compile_c
    exe = compile_c(Path("tests/c/echo_server.c"), tmp / "echo_server")

OpenSSL is found by the binding's own locator,
``src/ossl_handshake/_build/locate.py`` (loaded by its path):
``$OPENSSL_DIR`` first (``-I$OPENSSL_DIR/include``, ``-L`` and ``-Wl,-rpath`` for
its ``lib64``/``lib``), then ``pkg-config openssl`` (with an rpath for each
``-L``), then plain ``-lssl -lcrypto``.
The compiler is ``$CC`` (split like a shell would), default ``cc``.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["CompileError", "compile_c", "compiler", "have_compiler", "openssl_flags"]

#: Flags every program is built with: warnings are errors.
BASE_FLAGS: tuple[str, ...] = ("-Wall", "-Wextra", "-Werror", "-O2")

_TIMEOUT = 120.0

#: The binding's OpenSSL locator, shared so the C peers link the same libssl.
_LOCATE = Path(__file__).resolve().parents[2] / "src" / "ossl_handshake" / "_build" / "locate.py"


class CompileError(RuntimeError):
    """The C compiler failed; ``stderr`` holds its diagnostics."""

    def __init__(self, message: str, *, command: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__(f"{message}\n{stderr}".rstrip())
        self.command = list(command)
        self.stderr = stderr


def compiler() -> list[str]:
    """The compiler command: ``$CC`` split like a shell would, or ``cc``."""
    return shlex.split(os.environ.get("CC") or "cc")


@functools.cache
def _have_compiler(cc: tuple[str, ...]) -> bool:
    if not cc or shutil.which(cc[0]) is None:
        return False
    try:
        proc = subprocess.run([*cc, "--version"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def have_compiler() -> bool:
    """True when ``$CC`` (or ``cc``) exists and runs."""
    return _have_compiler(tuple(compiler()))


def _load_locate() -> ModuleType:
    """``src/ossl_handshake/_build/locate.py``, loaded by its path (stdlib only)."""
    name = "_ossl_handshake_build_locate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _LOCATE)
    assert spec is not None and spec.loader is not None
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def openssl_flags() -> tuple[list[str], list[str]]:
    """``(cflags, libs)`` for building against OpenSSL; libs go after the sources."""
    flags: tuple[list[str], list[str]] = _load_locate().c_flags()
    return flags


def _inputs(source: Path) -> list[Path]:
    """The source and the headers next to it: a change to any of them rebuilds."""
    return [source, *sorted(source.parent.glob("*.h"))]


def compile_c(
    source: Path,
    out: Path,
    *,
    shared: bool = False,
    extra_flags: Sequence[str] = (),
) -> Path:
    """Compile ``source`` into the executable (or, with ``shared``, the library) ``out``.

    ``extra_flags`` go before the source (for example ``["-pthread"]``). The
    result is cached: nothing is run when ``out`` is newer than the source and
    its sibling headers and was built with the same command. The output is
    written to a temporary file and renamed, so parallel builds never see a
    half-written file. Raises ``CompileError`` with the compiler's stderr.
    """
    source = Path(source)
    out = Path(out)
    if not source.is_file():
        raise CompileError(f"no such C source: {source}")
    cflags, libs = openssl_flags()
    mode = ["-shared", "-fPIC"] if shared else []
    flags = [*BASE_FLAGS, *mode, *extra_flags, *cflags]
    command = [*compiler(), *flags, "-o", str(out), str(source), *libs]
    stamp = out.with_name(out.name + ".cmd")
    wanted = shlex.join(command)

    try:
        newest = max(p.stat().st_mtime_ns for p in _inputs(source))
        if out.stat().st_mtime_ns >= newest and stamp.read_text(encoding="utf-8") == wanted:
            return out
    except OSError:
        pass  # not built yet (or the stamp is missing): build

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    run = [*compiler(), *flags, "-o", str(tmp), str(source), *libs]
    try:
        proc = subprocess.run(run, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise CompileError(f"C compiler not found: {run[0]}", command=run) from exc
    except subprocess.TimeoutExpired as exc:
        tmp.unlink(missing_ok=True)
        raise CompileError(
            f"compiling {source} timed out after {_TIMEOUT:g} s", command=run
        ) from exc
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise CompileError(
            f"compiling {source} failed (exit {proc.returncode}): {shlex.join(run)}",
            command=run,
            stderr=proc.stderr,
        )
    os.replace(tmp, out)
    stamp_tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    stamp_tmp.write_text(wanted, encoding="utf-8")
    os.replace(stamp_tmp, stamp)
    return out
