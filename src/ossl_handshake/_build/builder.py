"""The cffi builder for ``ossl_handshake._ossl`` (out-of-line, API mode).

The cdef is ``cdef/*.h`` and ``glue.h`` in ``CDEF_ORDER`` (every header in
cdef/ must be listed there, so a new one cannot be silently skipped), minus
the lines cffi cannot parse (glue.h's #includes and include guard). The C
source is ``glue/*.c`` in ``GLUE_ORDER``, #included into one translation unit
with cffi's code, so the ``static`` glue functions stay visible to it.
OpenSSL comes from ``locate.py`` (``found.source`` says where from). Loaded by
file path (``ossl_build.py``), without importing ``ossl_handshake``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cffi import FFI

HERE = Path(__file__).resolve().parent
#: Types before their users; glue.h uses the OpenSSL types and callbacks.h its structs.
CDEF_ORDER = (
    *(f"cdef/{n}.h" for n in ("types", "constants", "version", "ctx", "ssl", "session")),
    *(f"cdef/{n}.h" for n in ("bio", "errors", "x509", "compat")),
    *(f"cdef/{n}.h" for n in ("verify", "certdata", "session_stats", "modes", "crypto", "dh")),
    *(f"cdef/{n}.h" for n in ("async", "bio_sockets", "pipe")),
    "glue.h",
    "cdef/callbacks.h",
    "cdef/hello.h",
    "cdef/ocsp.h",
    "cdef/post_handshake.h",
    "cdef/psk.h",
)
#: Definitions before their users (one translation unit; glue.h declares them all).
GLUE_ORDER = (
    *("compat", "step", "callbacks", "pipe", "bio", "drive", "pair", "snapshot", "lifecycle"),
    *("hello", "certdata", "ocsp", "crypto", "dh", "post_handshake", "psk", "async"),
    "bio_sockets",
)
#: The lines of glue.h that are C only: its #includes and include guard.
_C_ONLY = re.compile(
    r"^\s*#\s*(include\b|pragma\s+once|(ifndef|define|endif)\b.*OSSL_HANDSHAKE_GLUE_H)"
)


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from ossl_handshake._build import locate
else:
    locate = _load("_ossl_handshake_build_locate", HERE / "locate.py")


def cdef_text() -> str:
    """The headers of CDEF_ORDER without their C-only lines, as one cdef."""
    found = {f"cdef/{p.name}" for p in (HERE / "cdef").glob("*.h")}
    if found != {n for n in CDEF_ORDER if n.startswith("cdef/")}:
        raise RuntimeError("cdef/*.h and builder.CDEF_ORDER disagree")
    lines = (ln for n in CDEF_ORDER for ln in (HERE / n).read_text().splitlines())
    return "\n".join(ln for ln in lines if not _C_ONLY.match(ln)) + "\n"


def source_text() -> str:
    """The set_source string: glue/*.c #included in GLUE_ORDER."""
    if {p.stem for p in (HERE / "glue").glob("*.c")} != set(GLUE_ORDER):
        raise RuntimeError("glue/*.c and builder.GLUE_ORDER disagree")
    return "".join(f'#include "glue/{n}.c"\n' for n in GLUE_ORDER)


found = locate.locate()
if "egg_info" not in sys.argv and "sdist" not in sys.argv:
    locate.check_headers(found)

kwargs = found.extension_kwargs()
kwargs["include_dirs"].append(str(HERE))  # for #include "glue/....c" and "glue.h"
# The lib directory of an OPENSSL_DIR build (the one holding libssl), for the
# loaded-library check of _native.py (glue/compat.c: ossl_build_libdir); ""
# for pkg-config and the compiler's default.
_libdir = ""
if found.source.startswith("OPENSSL_DIR"):
    _libdir = next(
        (d for d in found.library_dirs if any(Path(d).glob("libssl.so*"))),
        found.library_dirs[0] if found.library_dirs else "",
    )
_macros = [("OSSL_BUILD_LIBDIR", json.dumps(_libdir))]
ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source("ossl_handshake._ossl", source_text(), define_macros=_macros, **kwargs)
