"""The one OpenSSL locator: for the cffi module and for the C programs in tests/ and bench/.

Standard library only, and no package-relative imports: ``ossl_build.py``
(through ``builder.py``) and ``tests/c/build.py`` load this file by its path,
at a time when ``ossl_handshake`` may not be importable.

OpenSSL is found in this order:

1. ``OPENSSL_DIR``: headers from ``$OPENSSL_DIR/include``, libraries from
   ``$OPENSSL_DIR/lib64`` and/or ``$OPENSSL_DIR/lib``, each with an rpath so
   that this libssl is the one loaded at run time;
2. ``pkg-config openssl`` (its ``-I``, ``-L`` and ``-l`` flags);
3. the compiler's default search paths with ``-lssl -lcrypto``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OpenSSL", "OpenSSLNotFound", "c_flags", "check_headers", "find_openssl", "locate"]


class OpenSSLNotFound(SystemExit):
    """Raised with one readable message (SystemExit: no traceback from setup.py)."""


@dataclass(frozen=True)
class OpenSSL:
    """Where OpenSSL's headers and libraries are, and how that was decided."""

    include_dirs: list[str] = field(default_factory=list)
    library_dirs: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=lambda: ["ssl", "crypto"])
    extra_link_args: list[str] = field(default_factory=list)  # -Wl,-rpath for OPENSSL_DIR
    source: str = "the compiler's default search paths"

    def extension_kwargs(self) -> dict[str, list[str]]:
        """Keywords for setuptools.Extension / ffi.set_source."""
        return {
            "include_dirs": list(self.include_dirs),
            "library_dirs": list(self.library_dirs),
            "libraries": list(self.libraries),
            "extra_link_args": list(self.extra_link_args),
            "extra_compile_args": [],
        }


def _pkg_config(*args: str) -> list[str] | None:
    exe = shutil.which("pkg-config")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, *args, "openssl"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired):
        return None
    return shlex.split(out)


def locate() -> OpenSSL:
    """The OpenSSL to build against: ``OPENSSL_DIR``, then pkg-config, then the default."""
    root = os.environ.get("OPENSSL_DIR")
    if root:
        base = Path(root)
        libdirs = [str(d) for d in (base / "lib64", base / "lib") if d.is_dir()]
        return OpenSSL(
            include_dirs=[str(base / "include")],
            library_dirs=libdirs,
            extra_link_args=[f"-Wl,-rpath,{d}" for d in libdirs],
            source=f"OPENSSL_DIR={root}",
        )
    cflags = _pkg_config("--cflags")
    libs = _pkg_config("--libs")
    if cflags is not None and libs is not None:
        return OpenSSL(
            include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
            library_dirs=[f[2:] for f in libs if f.startswith("-L")],
            libraries=[f[2:] for f in libs if f.startswith("-l")] or ["ssl", "crypto"],
            source="pkg-config openssl",
        )
    return OpenSSL()


def find_openssl() -> dict[str, list[str]]:
    """Build keywords (include_dirs, library_dirs, ...) for the chosen OpenSSL."""
    return locate().extension_kwargs()


def c_flags(found: OpenSSL | None = None) -> tuple[list[str], list[str]]:
    """``(cflags, libs)`` for compiling a C program; libs go after the sources.

    Every library directory also gets an rpath, so the program loads the
    libssl it was linked against (as the cffi module does for OPENSSL_DIR).
    """
    found = locate() if found is None else found
    cflags = [f"-I{d}" for d in found.include_dirs]
    libs = [f"-L{d}" for d in found.library_dirs]
    libs += [f"-Wl,-rpath,{d}" for d in found.library_dirs]
    libs += [f"-l{name}" for name in found.libraries]
    return cflags, libs


def check_headers(found: OpenSSL) -> None:
    """Fail with one clear message, not a compiler traceback, if ssl.h is missing."""
    where = os.environ.get("OPENSSL_DIR")
    if where and not (Path(where) / "include" / "openssl" / "ssl.h").is_file():
        # Checked directly: the compiler would silently fall back to /usr/include.
        raise OpenSSLNotFound(
            f"ossl-handshake: cannot find <openssl/ssl.h>: OPENSSL_DIR={where} has no "
            "include/openssl/ssl.h (point it at an OpenSSL install prefix)"
        )
    cc = os.environ.get("CC", "cc").split()
    if shutil.which(cc[0]) is None:
        return  # let setuptools report the missing compiler itself
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.c"
        probe.write_text("#include <openssl/ssl.h>\nint main(void) { return 0; }\n")
        cmd = [*cc, "-E", str(probe), *[f"-I{d}" for d in found.include_dirs]]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        hint = (
            f"OPENSSL_DIR={where} has no include/openssl/ssl.h"
            if where
            else "install the OpenSSL development headers (Debian/Ubuntu: apt-get install "
            "libssl-dev; Fedora/RHEL: dnf install openssl-devel; macOS: brew install openssl@3 "
            "and set OPENSSL_DIR=$(brew --prefix openssl@3)), or set OPENSSL_DIR to an "
            "OpenSSL install prefix"
        )
        raise OpenSSLNotFound(f"ossl-handshake: cannot find <openssl/ssl.h>: {hint}")
