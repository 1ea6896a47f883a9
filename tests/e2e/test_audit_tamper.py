"""Issue 14: the audit chain covers the money, and every kind of tampering is named with its exact
first bad seq. The real `cs` builds the chain; the attacks are plain `sqlite3` (triggers dropped,
as an attacker would) and plain file edits on the real data dir.

The chain every test starts from (seq: event):
  1 migration (step 2)   2 migration (step 9: usage baseline)   3 session.start
  4 usage.logged (row 1) 5 usage.logged (row 2)   6 budget.set (rule 1)   7 pricing.set (acme/m1)
  8 usage.logged (row 3) 9 note n0                10 note n1
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_runner import Cs
from tests.e2e.helpers_firewall import make_cs

LOG = ("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "1000", "--completion-tokens", "200")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("audit-template")
    cs = make_cs(base)
    cs.ok("start", "task")
    cs.ok(*LOG)
    cs.ok(*LOG)
    cs.ok("budget", "set", "daily", "20")
    cs.ok("pricing", "set", "m1", "1", "2", "--provider", "acme")
    cs.ok(*LOG)
    cs.ok("note", "n0")
    cs.ok("note", "n1")
    return base


@pytest.fixture
def cs(template: Path, tmp_path: Path) -> Iterator[Cs]:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    yield Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=tmp_path / "repo")


def _sql(cs: Cs, *statements: str) -> None:
    con = sqlite3.connect(cs.data / "sessions.db")
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def _broken(cs: Cs) -> dict[str, Any]:
    details = cs.fails("audit_chain_broken", "audit", "verify")["error"]["details"]
    assert "bad_seq" not in details  # one spelling: camelCase, as on success
    return details


def _kind(d: dict[str, Any]) -> tuple[Any, ...]:
    return d["badSeq"], d["reason"], d["table"], d["rowId"]


def test_the_untouched_chain_verifies_and_its_head_is_anchored_in_the_data_dir(cs: Cs) -> None:
    v = cs.ok("audit", "verify")
    assert (v["ok"], v["entries"], v["headSeq"], v["badSeq"], v["reason"], v["keyedFrom"]) == (
        True, 10, 10, None, None, None)
    head = cs.ok("audit", "head")
    assert head["seq"] == 10 and (cs.data / "audit-head").read_text() == f"{head['head']}\n"
    events = [e["event"] for e in cs.ok("audit", "log", "-l", "20")["entries"]]
    assert events == ["migration", "migration", "session.start", "usage.logged", "usage.logged", "budget.set",
                      "pricing.set", "usage.logged", "note", "note"]


def test_a_cost_edited_in_ai_usage_names_the_entry_of_that_row(cs: Cs) -> None:
    _sql(cs, "UPDATE ai_usage SET cost_units = 1 WHERE id = 2")
    assert _kind(_broken(cs)) == (5, "edited", "ai_usage", 2)


def test_a_usage_row_deleted_names_its_entry(cs: Cs) -> None:
    _sql(cs, "DELETE FROM ai_usage WHERE id = 3")
    assert _kind(_broken(cs)) == (8, "deleted", "ai_usage", 3)


def test_a_usage_row_nobody_audited_is_reported_as_unaudited(cs: Cs) -> None:
    cols = ("session_id, provider, model, input_tokens, output_tokens, total_tokens, cost_units, price_source,"
            " origin, timestamp")
    _sql(cs, f"INSERT INTO ai_usage ({cols}) SELECT {cols} FROM ai_usage WHERE id = 1")
    d = _broken(cs)
    assert _kind(d) == (None, "unaudited", "ai_usage", 4) and d["detail"] == "usage row 4 is not in the audit chain"


def test_a_budget_limit_raised_in_sqlite_names_its_budget_set_entry(cs: Cs) -> None:
    _sql(cs, "UPDATE budgets SET limit_units = limit_units * 10 WHERE id = 1")
    assert _kind(_broken(cs)) == (6, "edited", "budgets", 1)


def test_a_price_override_edited_in_pricing_json_names_its_entry(cs: Cs) -> None:
    path = cs.data / "pricing.json"
    doc = json.loads(path.read_text())
    doc["acme/m1"]["output"] = 0.01
    path.write_text(json.dumps(doc))
    assert _kind(_broken(cs)) == (7, "edited", "pricing.json", "acme/m1")


def test_an_entry_edited_in_place(cs: Cs) -> None:
    _sql(cs, "UPDATE audit_log SET payload = replace(payload, 'n0', 'n9') WHERE seq = 9")
    assert _kind(_broken(cs)) == (9, "edited", None, None)


def test_a_middle_entry_deleted(cs: Cs) -> None:
    _sql(cs, "DELETE FROM audit_log WHERE seq = 5")
    d = _broken(cs)
    assert _kind(d) == (5, "deleted", None, None) and d["detail"] == "seq 5..5 missing"


def test_a_middle_entry_deleted_and_the_rest_renumbered_is_a_deletion_not_an_edit(cs: Cs) -> None:
    _sql(cs, "DELETE FROM audit_log WHERE seq = 5", "UPDATE audit_log SET seq = -seq WHERE seq > 5",
         "UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0")
    d = _broken(cs)
    assert _kind(d) == (5, "deleted", None, None)
    assert d["detail"] == "1 entry from seq 5 deleted; later entries were renumbered to hide the gap"


def test_entries_renumbered_without_a_deletion(cs: Cs) -> None:
    _sql(cs, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 9")
    assert _kind(_broken(cs)) == (9, "renumbered", None, None)


def test_two_entries_swapped(cs: Cs) -> None:
    _sql(cs, "UPDATE audit_log SET seq = 100 WHERE seq = 9", "UPDATE audit_log SET seq = 9 WHERE seq = 10",
         "UPDATE audit_log SET seq = 10 WHERE seq = 100")
    assert _kind(_broken(cs)) == (9, "reordered", None, None)


def test_the_tail_deleted_is_caught_by_the_head_file_without_a_flag(cs: Cs) -> None:
    _sql(cs, "DELETE FROM audit_log WHERE seq >= 9")
    d = _broken(cs)
    assert _kind(d) == (9, "truncated", None, None)
    assert d["detail"] == "the head file names seq 10; the chain ends at seq 8"


def test_every_entry_deleted_is_truncated_at_seq_1(cs: Cs) -> None:
    _sql(cs, "DELETE FROM audit_log")
    assert _kind(_broken(cs)) == (1, "truncated", None, None)


def test_a_head_kept_elsewhere_catches_a_tail_deleted_with_the_head_file(cs: Cs) -> None:
    kept = cs.ok("audit", "head")["head"]
    _sql(cs, "DELETE FROM audit_log WHERE seq >= 9")
    (cs.data / "audit-head").unlink()
    assert cs.ok("audit", "verify")["ok"] is True  # the data dir alone can no longer tell
    err = cs.fails("audit_chain_broken", "audit", "verify", "--expect-head", kept)["error"]
    assert _kind(err["details"]) == (9, "truncated", None, None)


def test_turning_the_key_on_later_starts_a_keyed_segment_instead_of_flagging_old_entries(cs: Cs) -> None:
    cs.extra_env["COSTHQ_AUDIT_KEY"] = "k-123"
    cs.ok("note", "keyed", "-s", "1")
    v = cs.ok("audit", "verify")
    assert (v["ok"], v["entries"], v["keyedFrom"]) == (True, 11, 11)
    assert "hmac:" in (cs.data / "audit-head").read_text()
    cs.extra_env.pop("COSTHQ_AUDIT_KEY")
    assert _kind(_broken(cs)) == (11, "key_required", None, None)  # the keyed entry needs the key
    cs.ok("note", "written without the key", "-s", "1")  # appends an unkeyed entry after the keyed segment began
    cs.extra_env["COSTHQ_AUDIT_KEY"] = "k-123"
    assert _kind(_broken(cs)) == (12, "forged", None, None)


def test_audit_times_never_go_backwards(cs: Cs) -> None:
    ats = [e["at"] for e in cs.ok("audit", "log", "-l", "50")["entries"]]
    assert ats == sorted(ats) and len(ats) == 10


def test_start_fresh_is_in_the_chain_and_new_rows_reusing_old_ids_verify(cs: Cs) -> None:
    from costhq.bootstrap.main import build_container

    c = build_container({"HOME": str(cs.home), "COSTHQ_HOME": str(cs.data)})
    c.remove_budget()(rule_id=1)  # as the dashboard's Start Fresh clears its alert thresholds first
    counts = c.start_fresh(clear_alerts=lambda: 1)(confirm="RESET")
    assert (counts.sessions, counts.ai_usage) == (1, 3)
    assert cs.ok("audit", "verify")["entries"] == 12  # + budget.remove, data.reset
    sid = cs.ok("start", "again")["id"]
    cs.ok(*LOG)
    assert cs.ok("show", str(sid))["aiUsage"][0]["id"] == 1  # SQLite reuses the ids of the deleted rows
    v = cs.ok("audit", "verify")
    assert (v["ok"], v["headSeq"]) == (True, 14)
