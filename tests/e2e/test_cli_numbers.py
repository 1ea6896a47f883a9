"""Numbers through the real `cs` (issue 17): ASCII decimal only, each in its range; anything else
is `invalid_argument`, exit 1, and nothing is written. Plus `recover --max-age 0`, the 1-hour
cache-write price and the Sonnet 4 long-context correction end to end."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costhq.adapters.persistence.price_catalog import PriceCatalog, build_index
from tests.e2e.cli_runner import Cs, make_repo

LOG = ["log-ai", "-p", "anthropic", "-m", "claude-sonnet-4"]
OK_SPLIT = ["--prompt-tokens", "10", "--completion-tokens", "5"]


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    home, data, work = tmp_path / "home", tmp_path / "data", tmp_path / "work"
    for d in (home, work):
        d.mkdir()
    return Cs(home=home, data=data, cwd=work)


def rows(cs: Cs, sql: str) -> int:
    with sqlite3.connect(cs.data / "sessions.db") as db:
        count: int = db.execute(sql).fetchone()[0]
    return count


@pytest.mark.parametrize("bad", [
    ["--prompt-tokens", "²", "--completion-tokens", "5"],
    ["--prompt-tokens", "①", "--completion-tokens", "5"],
    ["--prompt-tokens", "٣", "--completion-tokens", "5"],
    ["--prompt-tokens", "10", "--completion-tokens", "１２"],
    ["--prompt-tokens", "99999999999999999999999", "--completion-tokens", "5"],  # past 64 bits
    ["--prompt-tokens", "1000000000001", "--completion-tokens", "5"],  # past 10^12
    ["--prompt-tokens", "1,5", "--completion-tokens", "5"],
    ["--cache-write-1h-tokens", "٣", *OK_SPLIT],
    ["-t", "١٠", "-c", "1"],
    ["-t", "100", "-c", "1e9"],
    ["-t", "100", "-c", "1e30"],
    ["-t", "100", "-c", "1e-11"],
    ["-t", "100", "-c", "٣"],
    ["-t", "100", "-c", "1000000.01"],
    ["--prompt-tokens", "10", "--completion-tokens", "5", "--reasoning-tokens", "6"],
    ["-t", "100", "-c", "1", "--reasoning-tokens", "1"],
    ["--duration", "٣", *OK_SPLIT],
    ["-s", "٣", *OK_SPLIT],
    ["-s", "99999999999999999999999", *OK_SPLIT],
    ["-s", "0", *OK_SPLIT],
])
def test_a_bad_number_is_invalid_argument_and_writes_nothing(cs: Cs, bad: list[str]) -> None:
    cs.ok("start", "s")
    audit = rows(cs, "SELECT COUNT(*) FROM audit_log")
    doc = cs.fails("invalid_argument", *LOG, *bad)
    assert set(doc) == {"schemaVersion", "costhqVersion", "error"}
    assert rows(cs, "SELECT COUNT(*) FROM ai_usage") == 0
    assert rows(cs, "SELECT COUNT(*) FROM audit_log") == audit
    assert rows(cs, "SELECT COUNT(*) FROM spend_hourly") == 0
    human = cs(*LOG, *bad)
    assert (human.code, human.stdout) == (1, "") and "Traceback" not in human.stderr


def test_numbers_at_the_edges_of_their_ranges_are_kept_exactly(cs: Cs) -> None:
    sid = cs.ok("start", "s")["id"]
    tiny = cs.ok(*LOG, "-t", "1", "-c", "1e-10")
    assert (tiny["cost"], tiny["pricing"]["source"]) == (1e-10, "manual")
    big = cs.ok(*LOG, "-t", "1_000_000_000_000", "-c", "1000000", "-s", str(sid))
    assert (big["tokens"], big["cost"]) == (10**12, 1_000_000)
    reasoning = cs.ok(*LOG, "--prompt-tokens", "1,000", "--completion-tokens", "300", "--reasoning-tokens", "300")
    assert (reasoning["promptTokens"], reasoning["reasoningTokens"], reasoning["cost"]) == (1000, 300, 0.0075)
    assert rows(cs, "SELECT COUNT(*) FROM ai_usage") == 3
    assert cs.ok("status")["aiCost"] == 1000000.0075000001


def test_recover_max_age_zero_ends_every_active_session(cs: Cs, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_repo(a), make_repo(b)
    ids = {cs.ok("start", "A", cwd=a)["id"], cs.ok("start", "B", cwd=b)["id"]}
    for bad in ("-1", "٣", "1e7", "nan", "abc"):
        cs.fails("invalid_argument", "recover", "--max-age", bad)
    assert rows(cs, "SELECT COUNT(*) FROM sessions WHERE status = 'active'") == 2
    assert cs.ok("recover", "--max-age", "1")["recovered"] == 0
    done = cs.ok("recover", "--max-age", "0")
    assert (done["recovered"], {s["id"] for s in done["sessions"]}) == (2, ids)
    assert rows(cs, "SELECT COUNT(*) FROM sessions WHERE status = 'active'") == 0


def test_a_one_hour_cache_write_price_is_set_listed_and_used(cs: Cs) -> None:
    set_ = cs.ok("pricing", "set", "--provider", "acme", "claude-x", "3", "15", "--cache-read", "0.3",
                 "--cache-write", "3.75", "--cache-write-1h", "6")
    assert set_["pricing"] == {"model": "acme/claude-x", "source": "custom", "inputPer1M": 3, "outputPer1M": 15,
                               "cacheReadPer1M": 0.3, "cacheWritePer1M": 3.75, "cacheWrite1hPer1M": 6}
    assert cs.ok("pricing", "list", "--search", "claude-x")["custom"] == [set_["pricing"]]
    assert json.loads((cs.data / "pricing.json").read_text())["acme/claude-x"]["cacheWrite1h"] == 6
    human = cs("pricing", "list", "--search", "claude-x")
    assert "acme/claude-x" in human.stdout and "Write 1h" in human.stdout
    cs.ok("start", "s")
    doc = cs.ok("log-ai", "-p", "acme", "-m", "claude-x", "--prompt-tokens", "1000", "--cache-write-tokens", "2000",
                "--cache-write-1h-tokens", "4000", "--completion-tokens", "100")
    # 1000 x 3 + 2000 x 3.75 + 4000 x 6 + 100 x 15, per 1M
    assert (doc["cost"], doc["pricing"]["cacheWrite1hPer1M"], doc["pricing"]["source"]) == (0.036, 6, "custom")
    before = (cs.data / "pricing.json").read_text()
    for bad in (["--cache-write-1h", "٣"], ["--cache-write-1h", "-1"], ["--cache-write-1h", "1e7"]):
        cs.fails("invalid_pricing", "pricing", "set", "y", "1", "2", *bad)
    cs.fails("invalid_pricing", "pricing", "set", "y", "١", "2")
    assert (cs.data / "pricing.json").read_text() == before


def test_sonnet_4_past_200k_input_pays_the_long_context_tier(cs: Cs) -> None:
    cs.ok("start", "s")
    at = cs.ok("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4-20250514", "--prompt-tokens", "150000",
               "--cache-read-tokens", "50000", "--completion-tokens", "1000")
    past = cs.ok("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4-20250514", "--prompt-tokens", "150001",
                 "--cache-read-tokens", "50000", "--completion-tokens", "1000")
    assert (at["cost"], past["cost"]) == (0.48, 0.952506)  # 150,001 x 6 + 50,000 x 0.6 + 1,000 x 22.5 per 1M
    fix = "anthropic/claude-sonnet-4/long-context"
    assert (at["pricing"]["inputPer1M"], at["pricing"]["outputPer1M"], at["pricing"]["correction"]) == (3, 15, fix)
    assert (past["pricing"]["inputPer1M"], past["pricing"]["outputPer1M"], past["pricing"]["correction"]) == (
        6, 22.5, fix)
    listing = cs("pricing", "list", "--provider", "anthropic", "--search", "claude-sonnet-4-0", "--json")
    doc = json.loads(listing.stdout)
    assert [c["state"] for c in doc["corrections"]] == ["applied"] and "warning" not in listing.stderr
    (entry,) = doc["builtIn"]
    assert entry["tiers"] == [{"aboveInputTokens": 200000, "inputPer1M": 6, "outputPer1M": 22.5,
                               "cacheReadPer1M": 0.6, "cacheWritePer1M": 7.5, "cacheWrite1hPer1M": 12}]


def test_pricing_list_warns_once_the_built_in_data_has_the_corrected_entry(cs: Cs) -> None:
    index = build_index()
    anthropic = next(p for p in index["providers"] if p["id"] == "anthropic")
    entry = next(m for m in anthropic["models"] if m[0] == "claude-sonnet-4-0")
    for _, rates in entry[3]:
        rates["input_mtok"] = [rates["input_mtok"], [[200_000, "6"]]]
    # The catalogue cache `cs` reads, as a genai-prices release with the tier would build it.
    assert PriceCatalog(cs.data / "cache", build=lambda: index).find("openai", "gpt-4o", datetime.now(UTC))
    r = cs("pricing", "list", "--provider", "anthropic", "--search", "claude-sonnet-4-0", "--json")
    assert r.code == 0 and [c["state"] for c in r.json["corrections"]] == ["in-built-in"]
    assert r.stderr == ("warning: price correction anthropic/claude-sonnet-4/long-context "
                        "(anthropic/claude-sonnet-4-0): the built-in price data now has this entry; "
                        "retire the correction\n")
    assert "correction" not in r.json["builtIn"][0]



@pytest.mark.parametrize("args", [
    ["show", "٣"], ["list", "-l", "١٢"], ["export", "-l", "②"], ["runaway", "config", "--churn", "３"],
    ["runaway", "config", "--loop-window", "99999999999999999999999"], ["runaway", "status", "-s", "٣"],
    ["dashboard", "--port", "３७３７", "--no-open"], ["proxy", "start", "--port", "٣٧٣٩"],
    ["proxy", "start", "-s", "١"], ["proxy", "status", "--port", "٣٧٣٩"],
])
def test_every_numeric_flag_takes_ascii_digits_only(cs: Cs, args: list[str]) -> None:
    cs.ok("start", "s")
    audit = rows(cs, "SELECT COUNT(*) FROM audit_log")
    doc = cs.fails("invalid_argument", *args)
    assert set(doc) == {"schemaVersion", "costhqVersion", "error"}
    assert rows(cs, "SELECT COUNT(*) FROM audit_log") == audit
