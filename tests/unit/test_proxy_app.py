"""The proxy app over an ASGI transport, upstream = httpx.MockTransport, storage = verified fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from costhq.adapters._shared.version import VERSION
from costhq.adapters.proxy.app import ProxyDeps, make_proxy_app
from costhq.adapters.proxy.upstream import make_client
from costhq.application.proxy import CurrentProxySession, RecordProxyUsage, ResolveProxySession
from costhq.application.usage import BACKGROUND_SESSION_NAME, EnsureBackgroundSession
from costhq.domain.errors import BudgetExceeded
from tests.e2e.helpers_proxy import ANTHROPIC_USAGE, CLAUDE
from tests.unit.core_world import REPO, World, make_world

pytestmark = pytest.mark.anyio
LOCAL = ("127.0.0.1", 50000)
MSG = json.dumps({"model": "claude-sonnet-4", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
REPLY = {"id": "msg_1", "type": "message", "model": CLAUDE, "content": [], "usage": ANTHROPIC_USAGE}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Guard:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse, self.calls, self.settled, self.metered_tokens = refuse, [], [], []

    def before(self, **kw: Any) -> object:
        self.calls.append(kw)
        if self.refuse:
            raise BudgetExceeded("Session budget $1.00 reached")
        return "token"

    def metered(self, token: object, tokens: Any, *, at: Any, complete: bool) -> None:
        self.metered_tokens.append((token, tokens.total_input + tokens.output, complete))

    def settle(self, token: object, record: Any) -> None:
        self.settled.append((token, None if record is None else record.cost))


def build(world: World, tmp: Path, handler: Any, *, guard: Any = None, pinned: int | None = None,
          armed: Any = lambda: True, spy: list[Any] | None = None) -> Any:
    from costhq.application.proxy import AllowAllGuard

    current = CurrentProxySession(world.uow)
    resolve = ResolveProxySession(current, EnsureBackgroundSession(world.uow, world.clock))
    record = RecordProxyUsage(world.record())

    def record_one(i: Any) -> Any:
        if spy is not None:
            spy.append(i)
        return record(call=i.call, header_session=i.header_session, pinned_session=i.pinned_session,
                      session_id=i.session_id)

    deps = ProxyDeps(
        record=record_one, armed=armed,
        current_session=lambda p: current(pinned_session=p),
        resolve_session=lambda h, p: resolve(header_session=h, pinned_session=p),
        guard=guard or AllowAllGuard(), upstreams={"anthropic": "https://api.anthropic.com",
                                                   "openai": "https://api.openai.com"},
        spool_dir=tmp, port=3739, version=VERSION, pinned_session=pinned, body_cap=1000)
    return make_proxy_app(deps, make_client(transport=httpx.MockTransport(handler)))


class Run:
    def __init__(self, app: Any, client: tuple[str, int] = LOCAL) -> None:
        self.app, self.peer = app, client

    async def __aenter__(self) -> httpx.AsyncClient:
        self._life = self.app.router.lifespan_context(self.app)
        await self._life.__aenter__()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(self.app, client=self.peer),
                                      base_url="http://127.0.0.1:3739")
        return self.http

    async def __aexit__(self, *exc: Any) -> None:
        await self.http.aclose()
        await self._life.__aexit__(None, None, None)


def upstream_seen() -> tuple[list[httpx.Request], Any]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # A stream, as from the network (a mock response built from `json=` counts as already read).
        reply = {**REPLY, "id": f"msg_{len(seen)}"}
        return httpx.Response(200, stream=httpx.ByteStream(json.dumps(reply).encode()),
                              headers={"request-id": "req_1", "content-type": "application/json"})

    return seen, handler


def usage(world: World) -> list[Any]:
    with world.uow() as uow:
        return [u for s in uow.sessions.recent(10) for u in uow.usage.for_session(s.id)]


async def test_non_loopback_peer_gets_403_in_provider_shape_and_upstream_is_never_called(tmp_path: Path) -> None:
    world, (seen, handler) = make_world(), upstream_seen()
    async with Run(build(world, tmp_path, handler), client=("192.168.1.7", 4000)) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG)
        h = await http.get("/health")
    assert (r.status_code, r.headers["x-costhq-error"], h.status_code) == (403, "forbidden", 403)
    assert r.json()["error"]["code"] == "forbidden" and seen == []


@pytest.mark.parametrize("path", ["/openai/..%2f..%2fevil.com/v1", "/openai/%2e%2e/x",
                                  "/openai//evil.com/v1/models", "/openai/http://evil.com/v1/models",
                                  "/anthropic/v1%5c..%5cx"])
async def test_traversal_and_absolute_paths_are_refused_and_never_change_host(tmp_path: Path, path: str) -> None:
    world, (seen, handler) = make_world(), upstream_seen()
    async with Run(build(world, tmp_path, handler)) as http:
        r = await http.get(path)
    assert (r.status_code, r.headers["x-costhq-error"], seen) == (400, "invalid_path", [])
    assert "Traceback" not in r.text


async def test_body_over_the_cap_is_413_without_contacting_upstream(tmp_path: Path) -> None:
    world, (seen, handler) = make_world(), upstream_seen()
    async with Run(build(world, tmp_path, handler)) as http:
        r = await http.post("/anthropic/v1/messages", content=b"x" * 1001)
        ok = await http.post("/anthropic/v1/messages", content=b"x" * 1000)
    assert (r.status_code, ok.status_code, len(seen)) == (413, 200, 1)
    assert r.json() == {"type": "error", "error": {"type": "request_too_large", "code": "payload_too_large",
                                                   "message": "Request body exceeds the proxy's 10 MB limit"}}


async def test_attribution_header_then_pinned_then_active_then_background(tmp_path: Path) -> None:
    world, (seen, handler) = make_world(), upstream_seen()
    app = build(world, tmp_path, handler)
    async with Run(app) as http:
        await http.post("/anthropic/v1/v1/messages", content=MSG)  # nothing active: background session
        assert app.state.writer.wait_idle(5)
        world.clock.at = datetime.now(UTC) + timedelta(hours=1)  # records carry wall-clock times
        first = world.start()(name="task", cwd=REPO).session.id
        await http.post("/anthropic/v1/messages", content=MSG)
        await http.post("/anthropic/v1/messages", content=MSG, headers={"x-costhq-session": "1"})
        await http.post("/anthropic/v1/messages", content=MSG, headers={"x-costhq-session": "999"})
        assert app.state.writer.wait_idle(5)
        health = (await http.get("/health")).json()
    assert [r.url.path for r in seen] == ["/v1/messages"] * 4
    assert all("x-costhq-session" not in r.headers for r in seen)
    rows = sorted(usage(world), key=lambda u: u.id)
    assert [u.session_id for u in rows] == [1, first, 1, first]  # unknown id 999 falls through
    with world.uow() as uow:
        assert uow.sessions.get(1).name == BACKGROUND_SESSION_NAME
    assert health["session"]["id"] == first and health["session"]["name"] == "task"
    assert (health["status"], health["port"], health["version"]) == ("ok", 3739, VERSION)
    assert health["session"]["aiCost"] == 0.0228 and health["upstreams"]["openai"] == "https://api.openai.com"


async def test_guard_refusal_is_402_in_provider_shape_without_contacting_upstream(tmp_path: Path) -> None:
    world, (seen, handler) = make_world(), upstream_seen()
    sid = world.start()(name="task", cwd=REPO).session.id
    guard = Guard(refuse=True)
    async with Run(build(world, tmp_path, handler, guard=guard, pinned=sid)) as http:
        r = await http.post("/openai/v1/chat/completions", content=json.dumps({"model": "gpt-4o", "messages": []}))
    assert (r.status_code, r.headers["x-costhq-error"], seen) == (402, "budget_exceeded", [])
    assert r.json()["error"] == {"message": "Session budget $1.00 reached", "type": "budget_exceeded",
                                 "param": None, "code": "budget_exceeded"}
    [call] = guard.calls
    assert (call["session_id"], call["model"], call["provider"], call["shape"].max_output_tokens) == (
        sid, "gpt-4o", "openai", None)
    assert len(call["fingerprint"]) == 64


async def test_guard_is_settled_with_the_recorded_cost(tmp_path: Path) -> None:
    world, (_seen, handler) = make_world(), upstream_seen()
    sid = world.start()(name="task", cwd=REPO).session.id
    guard = Guard()
    app = build(world, tmp_path, handler, guard=guard, pinned=sid)
    async with Run(app) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG)
        assert r.json()["usage"] == ANTHROPIC_USAGE and app.state.writer.wait_idle(5)
    assert guard.calls[0]["shape"].max_output_tokens == 5
    assert guard.metered_tokens == [("token", 100 + 2000 + 1500 + 250, True)]  # before the record is stored
    assert guard.settled == [("token", Decimal("0.0114"))]


async def test_leftover_spool_of_a_crashed_proxy_is_replayed_at_start_exactly_once(tmp_path: Path) -> None:
    world, (_seen, handler) = make_world(), upstream_seen()
    sid = world.start()(name="task", cwd=REPO).session.id
    line = {"call": {"provider": "anthropic", "model": "claude-sonnet-4", "tokens": {"input": 1000, "output": 100},
                     "origin": "proxy", "request_id": "msg_crash", "timestamp": "2026-02-09T14:31:00+00:00"},
            "header": None, "pinned": sid, "session": None}
    dead_pid = 2**22 + 12345  # above pid_max's default: never a running process
    spool = tmp_path / f"proxy-spool-{dead_pid}-0.jsonl"
    spool.write_text((json.dumps(line) + "\n") * 2 + '{"torn')
    app = build(world, tmp_path, handler)
    async with Run(app):
        assert app.state.writer.wait_idle(5)
    [row] = usage(world)
    assert (row.request_id, row.session_id, row.cost, row.tokens.input) == ("msg_crash", sid, Decimal("0.0045"), 1000)
    assert list(tmp_path.glob("proxy-spool-*")) == []


async def test_upstream_unreachable_is_a_generic_502_and_the_call_is_counted(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused to 10.0.0.1 (secret detail)")

    world = make_world()
    async with Run(build(world, tmp_path, handler)) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG)
    assert (r.status_code, r.headers["x-costhq-error"]) == (502, "upstream_error")
    assert r.json()["error"]["message"] == "Upstream request failed" and "secret" not in r.text
    [row] = usage(world)
    assert (row.error, row.cost, row.model) == (True, Decimal(0), "claude-sonnet-4")


async def test_budget_refusal_carries_rule_scope_spent_and_limit_in_the_providers_error_shape(tmp_path: Path) -> None:
    class Refuse(Guard):
        def before(self, **kw: Any) -> object:
            raise BudgetExceeded("session budget #7 would be exceeded", rule_id=7, scope="session", model=None,
                                 limit="1.5", spent="1.2500000000", reserved="0", worst_case="0.3")

    world, (seen, handler) = make_world(), upstream_seen()
    async with Run(build(world, tmp_path, handler, guard=Refuse())) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG)
    assert (r.status_code, seen) == (402, [])
    assert r.json() == {"type": "error", "error": {
        "type": "budget_exceeded", "code": "budget_exceeded", "message": "session budget #7 would be exceeded",
        "details": {"ruleId": 7, "scope": "session", "model": None, "limit": 1.5, "spent": 1.25, "reserved": 0,
                    "worstCase": 0.3}}}


async def test_unarmed_firewall_skips_the_guard_and_the_writer_fingerprints_the_call(tmp_path: Path) -> None:
    world, (seen, handler) = make_world(), upstream_seen()
    guard, items = Guard(), []
    app = build(world, tmp_path, handler, guard=guard, armed=lambda: False, spy=items)
    async with Run(app) as http:
        await http.post("/anthropic/v1/messages", content=MSG)
        await http.post("/anthropic/v1/messages", content=MSG.replace('"hi"', '"hi" '))  # same JSON, other bytes
        assert app.state.writer.wait_idle(5)
    assert (guard.calls, guard.settled, len(seen)) == ([], [], 2)
    assert items[0].body is None and len(items[0].fingerprint) == 64
    assert items[0].fingerprint == items[1].fingerprint  # canonical JSON: identical calls look identical


async def test_non_stream_response_over_the_cap_passes_intact_while_the_meter_holds_a_bounded_copy(
        tmp_path: Path) -> None:
    from costhq.adapters.proxy.metering import JsonMeter

    padding = "x" * (11 * 1024 * 1024)
    reply = json.dumps({**REPLY, "content": [{"type": "text", "text": padding}]}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(reply), headers={"content-type": "application/json"})

    world = make_world()
    app = build(world, tmp_path, handler)
    async with Run(app) as http:
        r = await http.post("/anthropic/v1/messages", content=MSG)
        assert app.state.writer.wait_idle(5)
    assert r.content == reply
    [row] = usage(world)
    assert (row.cost, row.tokens.cache_read, row.partial) == (Decimal("0.0114"), 2000, False)
    meter = JsonMeter("anthropic", cap=1000)
    for i in range(0, len(reply), 65536):
        meter.feed(reply[i:i + 65536])
    assert meter.held <= 2 * 256 * 1024 and meter.finish(status=200).tokens.output == 250  # type: ignore[union-attr]


async def test_upstream_timeout_is_a_generic_504_and_the_call_is_counted(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out after 30 s from 10.1.2.3")

    world = make_world()
    app = build(world, tmp_path, handler)
    async with Run(app) as http:
        r = await http.post("/openai/v1/chat/completions", content=json.dumps({"model": "gpt-4o"}))
        assert app.state.writer.wait_idle(5)
    assert (r.status_code, r.headers["x-costhq-error"]) == (504, "upstream_timeout")
    assert r.json() == {"error": {"message": "Upstream request timed out", "type": "api_error", "param": None,
                                  "code": "upstream_timeout"}}
    [row] = usage(world)
    assert (row.error, row.model) == (True, "gpt-4o")
