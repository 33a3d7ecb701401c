"""Helpers for test authors: the pytest plugin (``ossl_handshake.testing.plugin``)."""
