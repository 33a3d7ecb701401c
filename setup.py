"""setuptools entry: builds ossl_handshake._ossl through cffi and ships the test PKI."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithPKI(build_py):
    """Copy the committed test PKI (certs/*.pem, *.key) into the package as _pki/."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "ossl_handshake" / "_pki"
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted((HERE / "certs").glob("*")):
            if src.suffix in {".pem", ".key"}:
                shutil.copy2(src, target / src.name)
        for sub in ("ocsp", "crl"):  # certs/gen-ocsp-crl.sh
            (target / sub).mkdir(exist_ok=True)
            for src in sorted((HERE / "certs" / sub).glob("*")):
                if src.suffix in {".pem", ".key", ".der"}:
                    shutil.copy2(src, target / sub / src.name)


setup(
    cffi_modules=["ossl_build.py:ffibuilder"],
    cmdclass={"build_py": BuildPyWithPKI},
)
