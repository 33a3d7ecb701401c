"""``ossl_handshake.faults``: the import path earlier READMEs showed; the faults live in
:mod:`ossl_handshake.wire.faults`."""

from ossl_handshake.wire.faults import *  # noqa: F403
from ossl_handshake.wire.faults import __all__ as __all__
