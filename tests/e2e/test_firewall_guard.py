"""FirewallGuard on the real container and one SQLite file: atomic reservations across threads and
processes, runaway blocks, unpriced policy, and the ASGI edge's 402 shape (until the proxy lands)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costhq.domain.errors import BudgetExceeded, RunawayDetected
from tests.e2e.helpers_firewall import make_cs, real_container

BODY = 6000  # bytes: 2000 input tokens worst case
MAX_OUT = 1000


def _setup(tmp_path: Path, slots: str) -> tuple[Any, Any, int, Decimal]:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "agent")["id"]
    c = real_container(cs)
    worst = c.request_guard().worst_case(provider="anthropic", model="claude-sonnet-4", body_bytes=BODY,
                                         max_output_tokens=MAX_OUT)
    assert worst == Decimal("0.021")  # 2000 * $3/M + 1000 * $15/M
    cs.ok("budget", "set", "session", str(worst * Decimal(slots)), "--session", str(sid))
    return cs, c, sid, worst


def _before(c: Any, sid: int, fp: str) -> Any:
    return c.request_guard().before(session_id=sid, provider="anthropic", model="claude-sonnet-4",
                                    body_bytes=BODY, max_output_tokens=MAX_OUT, fingerprint=fp)


def test_twenty_concurrent_threads_never_reserve_past_the_limit(tmp_path: Path) -> None:
    cs, c, sid, worst = _setup(tmp_path, "3.5")
    results: list[str] = []
    barrier = threading.Barrier(20)

    def call(i: int) -> None:
        barrier.wait()
        try:
            _before(c, sid, f"fp{i}")
            results.append("ok")
        except BudgetExceeded:
            results.append("blocked")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results).count("ok") == 3 and len(results) == 20
    status = cs.ok("budget", "status")["budgets"][0]
    assert Decimal(str(status["reserved"])) == worst * 3 <= Decimal(str(status["limit"]))
    blocks = [e for e in cs.ok("audit", "log", "-l", "100")["entries"] if e["event"] == "firewall.block"]
    assert len(blocks) == 17


_CHILD = """
import json, sys
from costhq.bootstrap.main import build_container
from costhq.domain.errors import BudgetExceeded
c = build_container({"HOME": sys.argv[1], "COSTHQ_HOME": sys.argv[2]})
sys.stdin.readline()  # start together
try:
    c.request_guard().before(session_id=int(sys.argv[3]), provider="anthropic", model="claude-sonnet-4",
                             body_bytes=6000, max_output_tokens=1000, fingerprint=sys.argv[4])
    print("ok")
except BudgetExceeded:
    print("blocked")
"""


@pytest.mark.slow
def test_twenty_processes_never_reserve_past_the_limit(tmp_path: Path) -> None:
    cs, _c, sid, _worst = _setup(tmp_path, "2.5")
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(cs.home), str(cs.data), str(sid), f"p{i}"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(20)]
    outs = [p.communicate("go\n", timeout=120) for p in procs]
    assert [o[1] for o in outs if o[1]] == []
    assert sorted(o[0].strip() for o in outs).count("ok") == 2


def test_settle_releases_the_reservation_and_the_record_counts_instead(tmp_path: Path) -> None:
    cs, c, sid, worst = _setup(tmp_path, "1.5")
    token = _before(c, sid, "a")
    with pytest.raises(BudgetExceeded) as exc:
        _before(c, sid, "b")
    assert exc.value.details["reserved"] == str(worst.quantize(Decimal("1e-10")))
    c.request_guard().settle(token, Decimal("0.001"))
    assert cs.ok("budget", "status")["budgets"][0]["reserved"] == 0
    assert _before(c, sid, "c") is not None


def test_runaway_block_refuses_the_session_until_cleared(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "agent")["id"]
    cs.ok("runaway", "config", "--action", "block", "--identical", "3")
    c = real_container(cs)
    assert _before(c, sid, "same") is None and _before(c, sid, "same") is None  # no rules: nothing reserved
    with pytest.raises(RunawayDetected):
        _before(c, sid, "same")
    with pytest.raises(RunawayDetected):
        _before(c, sid, "different")
    status = cs.ok("status")["runaway"]
    assert (status["tripped"], status["blocked"], status["trips"][0]["detector"]) == (True, True, "identical")
    assert cs.ok("runaway", "clear", "-s", str(sid))["cleared"] == 1
    assert _before(c, sid, "fresh") is None
    events = [e["event"] for e in cs.ok("audit", "log", "-l", "100")["entries"]]
    assert events.count("runaway.trip") == 1 and events.count("firewall.block") == 2


def test_unpriced_models_are_allowed_by_default_and_blocked_by_policy(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "agent")["id"]
    c = real_container(cs)
    kw: dict[str, Any] = {"session_id": sid, "provider": "acme", "model": "mystery-1", "body_bytes": 10,
                          "max_output_tokens": None, "fingerprint": "x"}
    assert c.request_guard().before(**kw) is None
    (cs.data / "config.toml").write_text('[firewall]\nunpriced = "block"\n')
    with pytest.raises(BudgetExceeded, match="no known price"):
        real_container(cs).request_guard().before(**kw)
    assert json.loads(cs("audit", "log", "--json").stdout)["entries"][-1]["event"] == "firewall.block"
