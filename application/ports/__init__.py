"""Ports: what the use cases need from the outside world, as Protocols, one module per capability.

Adapters do not inherit from these; mypy checks conformance where an adapter is bound to a
port-typed field (bootstrap, contract fixtures). Ports speak domain types. Domain types appear
only in annotations, so a use case pays at import for its own ports only (ADR 0003).
"""
