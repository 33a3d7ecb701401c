"""The ``ossl-handshake`` command: ``demo``, ``trace``, ``server``, ``client``, ``certs``."""

from ossl_handshake.cli.main import main

__all__ = ["main"]
