"""The library's background writer: batches, order, the flush timer, flush(), and failures.

The writer's port is "a RecordUsage-shaped callable"; these tests give it a recording fake.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from costhq.adapters.library.writer import BackgroundWriter
from costhq.application.usage import BatchOutcome, QueuedUsage, UsageInput
from costhq.domain.errors import InvalidArgument


class FakeBatchLog:
    """Records each batch it is given; `gate` (when set) holds a batch until the test opens it."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self._gate = gate

    def __call__(self, *, items: Sequence[QueuedUsage], allow_unpriced: bool = False) -> list[BatchOutcome]:
        assert allow_unpriced  # automatic capture never drops an unknown model
        self.entered.set()
        if self._gate is not None:
            assert self._gate.wait(10)
        self.batches.append([i.call.call_key or "" for i in items])
        return [BatchOutcome(error=InvalidArgument("bad call")) if i.call.call_key == "bad" else BatchOutcome()
                for i in items]


def _item(rid: str) -> QueuedUsage:
    return QueuedUsage(call=UsageInput(provider="openai", model="gpt-4o", call_key=rid))


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def test_calls_queued_while_a_batch_is_written_are_stored_together_in_order() -> None:
    gate, writer = threading.Event(), BackgroundWriter(linger_s=0)
    log, done = FakeBatchLog(gate), []
    writer.submit(lambda: log, _item("r0"), done.append)
    assert log.entered.wait(10)  # the writer holds r0's batch open
    for n in range(1, 50):
        writer.submit(lambda: log, _item(f"r{n}"), done.append)
    assert writer.pending == 50
    gate.set()
    assert writer.flush(timeout=10)
    assert log.batches == [["r0"], [f"r{n}" for n in range(1, 50)]]
    assert len(done) == 50 and writer.pending == 0


def test_a_batch_is_capped_so_the_write_lock_stays_short() -> None:
    gate, writer = threading.Event(), BackgroundWriter(linger_s=0, max_batch=20)
    log = FakeBatchLog(gate)
    writer.submit(lambda: log, _item("first"), lambda _: None)
    assert log.entered.wait(10)
    for n in range(45):
        writer.submit(lambda: log, _item(f"r{n}"), lambda _: None)
    gate.set()
    assert writer.flush(timeout=10)
    assert [len(b) for b in log.batches] == [1, 20, 20, 5]


def test_the_timer_stores_a_call_without_any_flush() -> None:
    writer, log = BackgroundWriter(linger_s=0.01), FakeBatchLog()
    writer.submit(lambda: log, _item("alone"), lambda _: None)
    _wait_for(lambda: writer.pending == 0)
    assert log.batches == [["alone"]]


def test_flush_cuts_a_long_linger_short() -> None:
    writer, log = BackgroundWriter(linger_s=60), FakeBatchLog()
    writer.submit(lambda: log, _item("r1"), lambda _: None)
    writer.submit(lambda: log, _item("r2"), lambda _: None)
    assert writer.flush(timeout=10)  # would take a minute if flush() waited for the timer
    assert log.batches == [["r1", "r2"]]
    assert writer.flush(timeout=0)  # nothing pending: returns at once


def test_flush_reports_a_timeout_while_a_batch_is_still_being_written() -> None:
    gate, writer = threading.Event(), BackgroundWriter(linger_s=0)
    log = FakeBatchLog(gate)
    writer.submit(lambda: log, _item("slow"), lambda _: None)
    assert writer.flush(timeout=0.05) is False
    gate.set()
    assert writer.flush(timeout=10)


def test_each_use_case_gets_its_own_calls_in_submission_order() -> None:
    writer, a, b = BackgroundWriter(linger_s=60), FakeBatchLog(), FakeBatchLog()
    for rid, log in [("a1", a), ("b1", b), ("a2", a), ("b2", b), ("a3", a)]:
        writer.submit(lambda log=log: log, _item(rid), lambda _: None)
    assert writer.flush(timeout=10)
    assert (a.batches, b.batches) == ([["a1", "a2", "a3"]], [["b1", "b2"]])


def test_failures_are_reported_and_never_stop_the_writer(capsys: pytest.CaptureFixture[str]) -> None:
    writer, log, seen = BackgroundWriter(linger_s=60), FakeBatchLog(), []

    def broken_setup() -> Any:
        raise OSError("no data dir")

    def broken_log(**_: Any) -> list[BatchOutcome]:
        raise RuntimeError("boom")

    def broken_done(_: BatchOutcome) -> None:
        raise ValueError("bookkeeping")

    writer.submit(broken_setup, _item("no-container"), seen.append)
    writer.submit(lambda: broken_log, _item("crashing"), seen.append)
    writer.submit(lambda: log, _item("bad"), seen.append)
    writer.submit(lambda: log, _item("ok"), broken_done)
    writer.submit(lambda: log, _item("after"), seen.append)
    assert writer.flush(timeout=10)
    assert log.batches == [["bad", "ok", "after"]]
    assert [(o.logged, o.duplicate, o.error.message if o.error else None) for o in seen] == [
        (None, False, None), (None, False, None), (None, False, "bad call"), (None, False, None)]
    assert capsys.readouterr().err.splitlines() == [
        "warning: costhq could not record a call: OSError('no data dir')",
        "warning: costhq could not record a call: RuntimeError('boom')",
        "warning: costhq could not record a call: bad call",
        "warning: costhq could not record a call: ValueError('bookkeeping')",
    ]
