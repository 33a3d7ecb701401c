"""setuptools' cffi entry (``cffi_modules=["ossl_build.py:ffibuilder"]``).

The build layer lives in ``src/ossl_handshake/_build/`` (see its
``builder.py``): ``cdef/*.h`` and ``glue.h`` are the cdef, ``glue/*.c`` the C
glue, ``locate.py`` the OpenSSL locator. It is loaded by file path: at build
time ``ossl_handshake._ossl`` does not exist, so the package is not imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BUILD = Path(__file__).resolve().parent / "src" / "ossl_handshake" / "_build"

_spec = importlib.util.spec_from_file_location("_ossl_handshake_build", BUILD / "builder.py")
assert _spec is not None and _spec.loader is not None
_builder = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_builder)

ffibuilder = _builder.ffibuilder
locate = _builder.locate
find_openssl = locate.find_openssl
check_headers = locate.check_headers
OpenSSLNotFound = locate.OpenSSLNotFound

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
