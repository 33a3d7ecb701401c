"""Pure TLS wire-format knowledge: roles, names of alerts and messages, record parsing.

Nothing here imports libssl: these modules load without the compiled ``_ossl``
(docs/architecture.md, "Layers").
"""
