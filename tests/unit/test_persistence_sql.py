"""The placeholder rewrite that lets SQLite and PostgreSQL run the same statement text (persistence/sql)."""

from __future__ import annotations

from costhq.adapters.persistence.sql import to_pyformat


def test_placeholders_become_psycopg_style_and_literals_and_casts_stay() -> None:
    assert to_pyformat("SELECT a::bigint, ':x' FROM t WHERE b = ? AND c = :c_1 AND d LIKE '50%?'") == (
        "SELECT a::bigint, ':x' FROM t WHERE b = %s AND c = %(c_1)s AND d LIKE '50%%?'")
    assert to_pyformat("SELECT 'it''s :no' || :yes, 5 % 2") == "SELECT 'it''s :no' || %(yes)s, 5 %% 2"
