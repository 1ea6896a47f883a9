"""The PostgreSQL back end (issue 16, team mode): the storage ports over psycopg 3.

Chosen by `COSTHQ_DATABASE_URL=postgresql://...` or `[storage] url` (bootstrap/adapters.py).
Stored forms are the SQLite adapter's: times as fixed-width ISO-8601 UTC text, money as
BIGINT 1e-10 USD, rates as JSON text, so rows convert with the same converter and
`cs db push` copies them unchanged. Its own schema ladder lives in `schema.py`.
"""
