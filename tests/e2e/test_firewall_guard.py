"""FirewallGuard on the real container and one SQLite file: expected-cost reservations held by each
process's ledger against leases every other process sees (threads and processes), runaway blocks,
the unpriced policy."""

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
from costhq.domain.estimates import RequestShape
from tests.e2e.helpers_firewall import make_cs, real_container

SHAPE = RequestShape(text_bytes=8000, max_output_tokens=1000)  # 2000 input tokens expected


def _setup(tmp_path: Path, slots: str) -> tuple[Any, Any, int, Decimal]:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "agent")["id"]
    c = real_container(cs)
    est = c.request_guard().estimate(provider="anthropic", model="claude-sonnet-4", shape=SHAPE, client="t")
    assert est.amount == Decimal("0.021")  # 2000 * $3/M + min(1000, 4096 never seen) * $15/M
    cs.ok("budget", "set", "session", str(est.amount * Decimal(slots)), "--session", str(sid))
    return cs, c, sid, est.amount


def _before(c: Any, sid: int, fp: str) -> Any:
    return c.request_guard().before(session_id=sid, provider="anthropic", model="claude-sonnet-4", shape=SHAPE,
                                    fingerprint=fp, client="t")


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
    # The lease others see: the 3 calls held (half a call of headroom left leases nothing ahead).
    assert Decimal(str(status["reserved"])) == worst * 3 <= Decimal(str(status["limit"]))
    blocks = [e for e in cs.ok("audit", "log", "-l", "100")["entries"] if e["event"] == "firewall.block"]
    assert len(blocks) == 17


_CHILD = """
import json, sys
from costhq.bootstrap.main import build_container
from costhq.domain.errors import BudgetExceeded
from costhq.domain.estimates import RequestShape
c = build_container({"HOME": sys.argv[1], "COSTHQ_HOME": sys.argv[2]})
sys.stdin.readline()  # start together
try:
    c.request_guard().before(session_id=int(sys.argv[3]), provider="anthropic", model="claude-sonnet-4",
                             shape=RequestShape(text_bytes=8000, max_output_tokens=1000), fingerprint=sys.argv[4],
                             client="t")
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


def test_settle_releases_the_hold_and_the_record_counts_instead(tmp_path: Path) -> None:
    cs, c, sid, worst = _setup(tmp_path, "1.5")
    token = _before(c, sid, "a")
    assert cs.ok("budget", "status")["budgets"][0]["reserved"] == 0.021  # the lease: the call, nothing ahead
    with pytest.raises(BudgetExceeded) as exc:
        _before(c, sid, "b")
    assert exc.value.details["reserved"] == str(worst.quantize(Decimal("1e-10")))
    logged = c.log_usage()(call=_call(), cwd=".", session_id=sid)
    c.request_guard().settle(token, logged.record)
    assert _before(c, sid, "c") is not None  # $0.0069 spent + $0.021 expected <= $0.0315
    c.request_guard().close()
    assert cs.ok("budget", "status")["budgets"][0]["reserved"] == 0  # the lease is given back


def _call() -> Any:
    from costhq.application.usage import UsageInput
    from costhq.domain.usage import Origin, TokenCounts

    return UsageInput(provider="anthropic", model="claude-sonnet-4", tokens=TokenCounts(input=1800, output=100),
                      origin=Origin.PROXY)


def test_runaway_block_refuses_the_session_until_cleared(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "agent")["id"]
    cs.ok("runaway", "config", "--action", "block", "--identical", "3")
    c = real_container(cs)
    assert _before(c, sid, "same").hold.lease is None and _before(c, sid, "same").hold.lease is None  # no rule
    with pytest.raises(RunawayDetected):
        _before(c, sid, "same")
    with pytest.raises(RunawayDetected):
        _before(c, sid, "different")
    status = cs.ok("status")["runaway"]
    assert (status["tripped"], status["blocked"], status["trips"][0]["detector"]) == (True, True, "identical")
    assert cs.ok("runaway", "clear", "-s", str(sid))["cleared"] == 1
    assert _before(c, sid, "fresh").observed is True
    events = [e["event"] for e in cs.ok("audit", "log", "-l", "100")["entries"]]
    assert events.count("runaway.trip") == 1 and events.count("firewall.block") == 2


def test_unpriced_models_are_allowed_by_default_and_blocked_by_policy(tmp_path: Path) -> None:
    cs = make_cs(tmp_path)
    sid = cs.ok("start", "agent")["id"]
    c = real_container(cs)
    kw: dict[str, Any] = {"session_id": sid, "provider": "acme", "model": "mystery-1", "shape": RequestShape(),
                          "fingerprint": "x", "client": "t"}
    assert c.request_guard().before(**kw).estimate is None  # allowed, reserved at $0
    (cs.data / "config.toml").write_text('[firewall]\nunpriced = "block"\n')
    with pytest.raises(BudgetExceeded, match="no known price"):
        real_container(cs).request_guard().before(**kw)
    assert json.loads(cs("audit", "log", "--json").stdout)["entries"][-1]["event"] == "firewall.block"
