"""The dashboard in Debian's headless Chromium (Playwright, never a downloaded browser).

Screenshots of every page go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from costhq.adapters._shared.clock import FixedClock
from costhq.adapters.http.app import make_app
from costhq.adapters.persistence.memory.store import InMemoryStore, InMemoryUnitOfWork
from tests.e2e.helpers_dashboard import NOW, ServerThread, _call, free_port, memory_deps, seed

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
if not Path(CHROMIUM).exists():
    # The README's test command installs it; a silent skip would let CI pass with no page tested.
    pytest.fail("Debian's chromium is not installed: run `bash scripts/test.sh` (it runs apt-get install chromium)",
                pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, InMemoryStore]]:
    store = InMemoryStore()
    seed(lambda: InMemoryUnitOfWork(store))
    app = make_app(memory_deps(store, FixedClock(NOW), tmp_path, port=(port := free_port())), poll_interval=0.2)
    with ServerThread(app, port) as url:
        yield url, store


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, service_workers="block")
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    # An EventSource cut when the page closes logs a network error; anything else is a bug.
    pg.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "ERR_INCOMPLETE_CHUNKED_ENCODING" not in m.text else None
        ),
    )
    yield pg
    ctx.close()
    assert errors == []


def open_page(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/#/{name}")
    page.wait_for_selector(f"main[data-ready='{name.split('/')[0]}']")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def chart_data(page: Any, canvas_id: str) -> list[list[float]]:
    return page.evaluate(f"Chart.getChart(document.getElementById('{canvas_id}')).data.datasets.map(d => d.data)")


def test_every_page_renders_and_charts_show_the_seeded_data(site: Any, page: Any) -> None:
    url, _ = site
    open_page(page, url, "overview")
    assert page.inner_text("#kpi-sessions b") == "3" and page.inner_text("#kpi-cost b") == "$1.18"
    assert chart_data(page, "chart-daily-cost")[0][-4:] == [0.0615, 0, 0.12, 1]
    assert chart_data(page, "chart-daily-tokens")[1][-4:] == [2500, 0, 4000, 105]
    assert chart_data(page, "chart-sessions-per-day")[0][-4:] == [1, 0, 1, 1]
    assert chart_data(page, "chart-velocity") == [[0.03075, 0.24, 1]]
    expect(page.locator("#card-preview")).to_have_js_property("naturalWidth", 1200)
    shot(page, "overview")
    open_page(page, url, "sessions")
    assert page.locator("#sessions-table tbody tr").count() == 3
    shot(page, "sessions")
    open_page(page, url, "models")
    assert chart_data(page, "chart-model-cost") == [[1.0075, 0.174, 0]]
    assert chart_data(page, "chart-model-tokens") == [[1100, 28000, 10], [600, 6000, 5]]
    shot(page, "models")
    open_page(page, url, "local")
    assert "Local RTX 4090" in page.inner_text("#hardware-table")
    shot(page, "local")
    open_page(page, url, "pricing")
    assert "claude-sonnet-4" in page.inner_text("#builtin-prices")
    shot(page, "pricing")
    open_page(page, url, "insights")
    assert chart_data(page, "chart-projects") == [[1.0615, 0.12]]
    assert page.locator("#heatmap .hm-cell").count() == 7 * 24
    shot(page, "insights")
    open_page(page, url, "alerts")
    shot(page, "alerts")


def test_phone_layout_has_no_horizontal_overflow(browser: Any, site: Any) -> None:
    url, _ = site
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    pg = ctx.new_page()
    open_page(pg, url, "overview")
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(pg, "overview-phone")
    ctx.close()


def test_open_a_session_and_its_tabs(site: Any, page: Any) -> None:
    url, _ = site
    open_page(page, url, "sessions")
    page.fill("#search", "auth")
    page.press("#search", "Enter")
    expect(page.locator("#sessions-table tbody tr")).to_have_count(1)
    page.click("text=Fix auth bug")
    page.wait_for_selector("#session-title")
    assert page.inner_text("#stat-cost b") == "$0.06" and page.inner_text("#stat-ratio b") == "3.60:1"
    assert page.inner_text("#stat-duration b") == "2h 0m" and page.inner_text("#stat-commits b") == "1"
    assert page.locator(".timeline li").count() == 6
    assert "/repo/a" in page.inner_text(".meta") and "main" in page.inner_text(".meta")
    page.click("[data-tab=ai]")
    assert page.locator("#tab-body tbody tr").count() == 2
    page.click("[data-tab=commits]")
    assert "fix: auth null check" in page.inner_text("#tab-body")
    page.click("[data-tab=notes]")
    assert "phase 1" in page.inner_text("#tab-body")
    shot(page, "session-detail")


def test_active_session_refreshes_live_without_reload(site: Any, page: Any) -> None:
    url, store = site
    open_page(page, url, "sessions/3")
    assert page.inner_text("#stat-cost b") == "$1.00"
    page.evaluate("window.__marker = 1")
    with InMemoryUnitOfWork(store) as uow:
        uow.usage.add(_call(3, "openai", "gpt-4o", 10, 10, "2.5", "2026-11-23T14:50:00"))
    expect(page.locator("#stat-cost b")).to_have_text("$3.50", timeout=10_000)
    assert page.evaluate("window.__marker") == 1  # same document: no reload


def test_add_edit_and_remove_a_pricing_override(site: Any, page: Any) -> None:
    url, _ = site
    open_page(page, url, "pricing")
    page.fill("#price-form [name=model]", "my-ft-model")
    page.fill("#price-form [name=inputPer1M]", "5")
    page.fill("#price-form [name=outputPer1M]", "15")
    page.click("#price-form button")
    page.wait_for_selector("#custom-prices >> text=my-ft-model")
    assert "$5.00" in page.inner_text("#custom-prices") and "$15.00" in page.inner_text("#custom-prices")
    page.click("[data-edit='my-ft-model']")
    page.fill("#price-form [name=outputPer1M]", "20")
    page.click("#price-form button")
    page.wait_for_selector("#custom-prices >> text=$20.00")
    shot(page, "pricing-override")
    page.click("[data-remove='my-ft-model']")
    page.wait_for_selector("#custom-prices >> text=Nothing yet")


def test_create_an_alert_and_see_it_triggered(site: Any, page: Any) -> None:
    url, _ = site
    open_page(page, url, "alerts")
    page.select_option("#alert-form [name=scope]", "daily")
    page.fill("#alert-form [name=limit]", "0.5")
    page.click("#alert-form button")
    page.wait_for_selector(".rule.over")
    assert page.inner_text("#badge-triggered") == "1 triggered" and page.inner_text("#badge-active") == "1 active rules"
    assert page.evaluate("getComputedStyle(document.querySelector('.rule .bar i')).width") != "0px"
    shot(page, "alerts-triggered")


def test_start_fresh_lists_what_goes_and_deletes_it(site: Any, page: Any) -> None:
    url, _ = site
    open_page(page, url, "overview")
    page.click("#fresh-btn")
    text = page.inner_text("#fresh-modal")
    for item in ("all sessions", "all AI usage records", "all file changes", "all commits", "all alert thresholds"):
        assert item in text
    shot(page, "start-fresh-modal")
    page.click("#fresh-confirm")
    expect(page.locator("#kpi-sessions b")).to_have_text("0")


@pytest.fixture
def team_site(tmp_path: Path) -> Iterator[str]:
    from tests.e2e.helpers_dashboard import seed_team

    store = InMemoryStore()
    seed(lambda: InMemoryUnitOfWork(store))
    seed_team(lambda **who: InMemoryUnitOfWork(store, **who))
    app = make_app(memory_deps(store, FixedClock(NOW), tmp_path, port=(port := free_port())), poll_interval=0.2)
    with ServerThread(app, port) as url:
        yield url


def _rows(page: Any, table: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"#{table} tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))")


def test_team_view_shows_spend_by_user_machine_and_project_and_filters_it(team_site: str, page: Any) -> None:
    page.goto(team_site + "/")
    page.click("nav a[data-page='team']")
    page.wait_for_selector("main[data-ready='team']")
    assert page.get_attribute("nav a[data-page='team']", "class") == "on"
    assert page.inner_text("#team-kpi-sessions b") == "5" and page.inner_text("#team-kpi-cost b") == "$3.68"
    assert [(r[0], r[1], r[6]) for r in _rows(page, "team-users")] == [("bob", "1", "$2.00"), ("me", "3", "$1.18"),
                                                                       ("ann", "1", "$0.50")]
    assert [r[0] for r in _rows(page, "team-machines")] == ["ci-1", "box", "laptop"]
    assert [(r[0], r[4]) for r in _rows(page, "team-projects")] == [("/repo/c", "1"), ("/repo/a", "5"),
                                                                    ("/repo/b", "1")]
    assert chart_data(page, "chart-team-users") == [[2, 1.1815, 0.5]]
    shot(page, "team")
    page.select_option("#team-project", "/repo/a")
    page.wait_for_selector("""main[data-team='{"project":"/repo/a"}']""")
    assert page.inner_text("#team-kpi-cost b") == "$1.56"
    assert [(r[0], r[6]) for r in _rows(page, "team-users")] == [("me", "$1.06"), ("ann", "$0.50")]
    page.select_option("#team-user", "ann")
    page.wait_for_selector("""main[data-team='{"user":"ann","project":"/repo/a"}']""")
    assert page.inner_text("#team-kpi-sessions b") == "1"
    assert chart_data(page, "chart-team-machines") == [[0.5]]
    assert page.locator("#team-user option").all_inner_texts() == ["All users", "ann", "bob", "me"]
    page.click("#team-clear")
    page.wait_for_selector("main[data-team='{}']")
    page.fill("input[name='since']", "2026-11-22")
    page.wait_for_selector("""main[data-team='{"since":"2026-11-22"}']""")
    assert [(r[0], r[6]) for r in _rows(page, "team-users")] == [("bob", "$2.00"), ("me", "$1.12")]
