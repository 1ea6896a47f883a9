"""The spend firewall through the real proxy with the real `openai` and `anthropic` SDKs.

The SDKs keep their default retries: a 402 is not retried, so each refused call reaches the
firewall once and never the upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest

from tests.e2e.helpers_proxy import FakeUpstream, ServedApp
from tests.e2e.test_proxy_sdks import KEY, MSG, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fake = FakeUpstream()
    with ServedApp(fake.app) as upstream:
        w = World(tmp_path, fake, upstream.url)
        w.proxy.start()
        try:
            yield w
        finally:
            w.proxy.stop()


def _blocks(w: World) -> int:
    return sum(e.event == "firewall.block" for e in w.c.read_audit()())


def test_anthropic_sdk_gets_our_402_without_retrying_and_upstream_is_never_contacted(world: World) -> None:
    world.c.set_budget()(scope="session", limit=Decimal("0.01"), session_id=world.session)
    client = anthropic.Anthropic(base_url=f"{world.url}/anthropic/v1", api_key=KEY)  # default retries
    with pytest.raises(anthropic.APIStatusError) as exc:
        client.messages.create(model="claude-sonnet-4", max_tokens=4096, messages=MSG)
    err = exc.value
    assert err.status_code == 402 and err.response.headers["x-costhq-error"] == "budget_exceeded"
    assert err.body["error"]["code"] == "budget_exceeded"  # type: ignore[index]
    assert "session budget #1" in err.body["error"]["message"] and "limit $0.01" in err.body["error"]["message"]  # type: ignore[index]
    assert world.fake.requests == [] and _blocks(world) == 1


def test_openai_sdk_gets_402_runaway_detected_after_identical_calls(world: World) -> None:
    world.c.configure_runaway()(changes={"action": "block", "identical_k": 2})
    client = openai.OpenAI(base_url=f"{world.url}/openai/v1", api_key=KEY)
    client.chat.completions.create(model="gpt-4o", messages=MSG)
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="gpt-4o", messages=MSG)
    assert exc.value.status_code == 402 and exc.value.response.headers["x-costhq-error"] == "runaway_detected"
    assert len(world.fake.requests) == 1 and _blocks(world) == 1
