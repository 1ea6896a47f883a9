"""The product version, kept literal so `cs` never scans package metadata at start-up.

tests/unit/test_packaging.py asserts it equals the installed distribution's version.
"""

VERSION = "4.1.0"
SCHEMA_VERSION = 1


def envelope(payload: dict[str, object]) -> dict[str, object]:
    """Every JSON document starts with schemaVersion and costhqVersion (integration contract)."""
    return {"schemaVersion": SCHEMA_VERSION, "costhqVersion": VERSION, **payload}
