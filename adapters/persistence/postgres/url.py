"""Database URLs: recognising a PostgreSQL one, and keeping its password out of every message.

Credentials come from the URL, a libpq service file (`service=` / PGSERVICE) or the PG*
variables; libpq reads the last two itself. Whatever prints a URL or an error prints
`redact(...)` of it.
"""

from __future__ import annotations

import re

SCHEMES = ("postgresql://", "postgres://")
# user:password@ in a URL, and password=... in a key/value conninfo
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s]*)@", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def is_postgres(url: str) -> bool:
    """True for a `postgresql://` / `postgres://` URL, or a key/value conninfo (service, host, dbname...)."""
    low = url.strip().lower()
    return low.startswith(SCHEMES) or bool(re.match(r"^(service|host|hostaddr|dbname|user|port)\s*=", low))


def redact(text: str, *secrets: str) -> str:
    """`text` with URL / conninfo passwords and the given secret strings replaced by `***`."""
    out = _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", text)
    out = _KV_PASSWORD.sub(lambda m: f"{m['head']}***", out)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def password_of(url: str) -> str:
    """The password written in `url` (URL or conninfo form), or ''."""
    m = _URL_PASSWORD.search(url)
    if m:
        from urllib.parse import unquote

        return unquote(m["secret"])
    m = _KV_PASSWORD.search(url)
    return m["secret"].strip("'") if m else ""
