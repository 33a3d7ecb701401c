"""The objects that own libssl pointers: ``Context`` (``SSL_CTX``), ``Connection``
(``SSL``), ``Session``, the error mapping and the callbacks libssl calls.

Every pointer is used only under its owner's guard (docs/architecture.md,
"Ownership and guards").
"""
