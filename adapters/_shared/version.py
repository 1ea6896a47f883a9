"""The product version, kept literal so `cs` never scans package metadata at start-up.

tests/unit/test_packaging.py asserts it equals the installed distribution's version.
"""

VERSION = "4.1.0"
SCHEMA_VERSION = 1
