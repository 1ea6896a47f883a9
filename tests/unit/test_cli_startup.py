"""`cs` start-up stays lean (ADR 0003): what a hot command imports, lazy registration, deferred providers.

Deterministic guards, not timings: a real `cs` run in a fresh interpreter reports `sys.modules`, and
the test fails when a heavy dependency or another feature's module creeps into a hot path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cyclopts import App

from costhq.adapters.cli.app import CORE, Commands, make_cli, run
from costhq.bootstrap.main import build_container

# Never needed by status / log-ai / statusline: web stack, SDKs, git, watchers, pricing data, tables.
LOG_AI = ("log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "1000",
          "--completion-tokens", "100", "--json")
HEAVY = (
    "starlette", "httpx", "httpx2", "uvicorn", "mcp", "openai", "anthropic", "pygit2", "watchdog",
    "genai_prices", "rich", "pydantic", "apsw.ext", "apsw.bestpractice", "urllib.request", "tomllib",
    "PIL", "chartkick", "docstring_parser",
    "cattrs",  # sessions and usage rows are structured by the converter's own hooks (ADR 0003)
    "asyncio", "dependency_injector",  # only the long-running front ends' container uses it (ADR 0003)
    "psycopg", "psycopg_pool",  # the team back end loads only with a database URL (docs/team.md)
    "aiohttp", "uvloop", "httptools", "hypothesis",  # the proxy's serving stack; a test-only library
    "logging",  # SQLite logs nothing on a clean open (no WAL recovery: see connection.py)
)
# Other features' modules: a hot command must not pay for them.
FOREIGN = (
    "costhq.application.dashboard", "costhq.application.imports", "costhq.application.tracking",
    "costhq.application.proxy", "costhq.domain.analytics", "costhq.adapters.persistence.sqlite.integrations",
    "costhq.adapters.http", "costhq.adapters.proxy", "costhq.adapters.library", "costhq.adapters.mcp",
    "costhq.adapters.watchers.live", "costhq.bootstrap.container",
)
# Use cases status and log-ai do not run: the session writes, local-model admin (issue 8), audit admin.
UNUSED_USE_CASES = ("costhq.application.sessions", "costhq.application.local_models")

_PROBE = """
import json, sys
import apsw
statements = []

def trace(_cursor, sql, _bindings):
    statements.append(sql)
    return True

apsw.connection_hooks.append(lambda conn: setattr(conn, "exec_trace", trace))
from costhq.bootstrap.main import main
try:
    main(sys.argv[2:])
except SystemExit as exc:
    code = exc.code
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules), "sql": statements}, f)
"""


def _cs(tmp_path: Path, *args: str) -> tuple[int, Any, set[str]]:
    """Run `cs args` through `main()` in a fresh interpreter; exit code, stdout (JSON when --json), modules.

    The SQL it ran is left in `tmp_path / "modules.json"` (see `_transactions`).
    """
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT", "TMPDIR")}
    env |= {"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data"), "NO_COLOR": "1"}
    report = tmp_path / "modules.json"
    p = subprocess.run([sys.executable, "-c", _PROBE, str(report), *args], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert "Traceback" not in p.stderr, p.stderr
    probe = json.loads(report.read_text())
    out = json.loads(p.stdout) if "--json" in args else p.stdout
    return probe["code"], out, set(probe["modules"])


def _transactions(tmp_path: Path) -> list[str]:
    """The BEGIN statements of the last `_cs` run: one per unit of work."""
    sql = json.loads((tmp_path / "modules.json").read_text())["sql"]
    return [s for s in sql if s.split()[0].upper() == "BEGIN"]


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def _commands(modules: set[str]) -> set[str]:
    return {m.rsplit(".", 1)[1] for m in modules
            if m.startswith("costhq.adapters.cli.commands_")}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated data dir with one active session holding one priced call (outside any git repo).

    The first priced call builds the compact price index from genai-prices (once per version);
    the hot path measured below is every call after it.
    """
    tmp = tmp_path_factory.mktemp("startup")
    assert _cs(tmp, "start", "lean", "--json")[0] == 0
    assert _cs(tmp, *LOG_AI)[0] == 0
    return tmp


def test_status_imports_only_the_session_commands_and_nothing_heavy(home: Path) -> None:
    code, doc, modules = _cs(home, "status", "--json")
    assert (code, doc["name"], doc["status"]) == (0, "lean", "active")
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, FOREIGN) == []
    assert _loaded(modules, UNUSED_USE_CASES) == []
    assert _commands(modules) == {"commands_sessions"}


def test_status_only_reads_so_it_never_takes_the_write_lock(home: Path) -> None:
    code, doc, _ = _cs(home, "status", "--json")
    assert (code, doc["name"]) == (0, "lean")
    transactions = _transactions(home)
    assert transactions and set(transactions) == {"BEGIN DEFERRED"}


def test_log_ai_imports_only_the_usage_command_and_nothing_heavy(home: Path) -> None:
    code, doc, modules = _cs(home, *LOG_AI)
    # 1000 x $3/M + 100 x $15/M
    assert (code, doc["cost"], doc["tokens"], doc["origin"]) == (0, 0.0045, 1100, "cli")
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, FOREIGN) == []
    assert _loaded(modules, UNUSED_USE_CASES) == []
    assert _commands(modules) == {"commands_usage"}


def test_log_ai_is_one_write_transaction(home: Path) -> None:
    # The local-model lookup, the record, its audit entry and the firewall share one BEGIN IMMEDIATE,
    # so each call takes the write lock once.
    code, doc, _ = _cs(home, *LOG_AI)
    assert (code, doc["cost"], doc["priceSource"]) == (0, 0.0045, "built-in")
    assert _transactions(home) == ["BEGIN IMMEDIATE"]


def test_a_local_model_call_is_priced_by_compute_time_in_that_same_transaction(tmp_path: Path) -> None:
    assert _cs(tmp_path, "start", "gpu", "--json")[0] == 0
    assert _cs(tmp_path, "local", "add", "llama3", "--runtime", "ollama", "--hardware", "runpod-h100",
               "--json")[0] == 0
    code, doc, modules = _cs(tmp_path, "log-ai", "-p", "ollama", "-m", "llama3", "--duration", "12.5",
                             "--prompt-tokens", "1000", "--completion-tokens", "500", "--json")
    # 12.5 s x $2.69/h = $0.0093402778; llama3 has no API price, so only the local lookup can price it
    assert (code, doc["cost"], doc["priceSource"], doc["local"]["hardware"]) == (
        0, 0.0093402778, "local", "runpod-h100")
    assert _transactions(tmp_path) == ["BEGIN IMMEDIATE"]
    assert _loaded(modules, UNUSED_USE_CASES) == []


def test_statusline_imports_only_its_command_and_nothing_heavy(home: Path) -> None:
    code, doc, modules = _cs(home, "statusline", "--json")
    assert (code, doc["session"]["name"]) == (0, "lean")
    assert _loaded(modules, HEAVY) == []
    assert _loaded(modules, FOREIGN[:4]) == []  # reports (statusline's own) may load; other features not
    assert _commands(modules) == {"commands_statusline"}


def test_a_call_leaves_no_wal_behind_and_stderr_empty(tmp_path: Path) -> None:
    # Through the console-script path (`main()` without argv: GC off during start-up, then frozen).
    # The last connection's checkpoint removes the WAL, so the next process never has to rebuild
    # the WAL index (SQLite logs that recovery as a warning, which would reach stderr every call).
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "SYSTEMROOT", "TMPDIR")}
    env |= {"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")}
    entry = [sys.executable, "-c", "from costhq.bootstrap.main import main; main()"]
    out = {}
    for args in (("start", "wal", "--json"), LOG_AI, LOG_AI, ("status", "--json"), ("statusline",)):
        p = subprocess.run([*entry, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert (p.returncode, p.stderr) == (0, ""), args
        assert sorted(f.name for f in (tmp_path / "data").glob("sessions.db*")) == ["sessions.db"], args
        out[args[0]] = p.stdout
    assert json.loads(out["status"])["aiCost"] == 0.009  # 2 x (1000 x $3/M + 100 x $15/M)


def test_help_still_registers_every_command(home: Path) -> None:
    code, out, modules = _cs(home, "--version")
    assert (code, out) == (0, "4.1.0\n")
    every = {g.target.split(":")[0].rsplit(".", 1)[1] for g in CORE}
    assert _commands(modules) == every


def test_a_usage_error_still_exits_1_with_the_json_error_shape(home: Path) -> None:
    code, doc, modules = _cs(home, "status", "--bogus", "--json")
    assert (code, doc["schemaVersion"], doc["error"]["code"]) == (1, 1, "invalid_argument")
    assert _commands(modules) == {"commands_sessions"}


def test_every_group_registers_exactly_the_commands_it_names(tmp_path: Path) -> None:
    container = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    for group in CORE:
        app = App(name="cs")
        group.load()(app, container)
        assert {n for n in app if not n.startswith("-")} == set(group.names), group.target
    names = [n for g in CORE for n in g.names]
    assert len(names) == len(set(names))


def test_a_stale_group_falls_back_to_registering_everything(tmp_path: Path) -> None:
    container = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})

    def register_zzz(app: App, _c: Any) -> None:
        @app.command
        def zzz() -> int:
            """A command its group forgot to name."""
            return 7

    stale = Commands(("zzz",), "costhq.adapters.cli.commands_skill:register")  # claims zzz, adds `skill`
    app = make_cli(container, [stale, register_zzz], command="zzz")
    assert {"zzz", "skill", "status", "log-ai"} <= set(app)
    assert run(app, ["zzz"]) == 7


def test_the_core_graph_builds_each_real_use_case_once(tmp_path: Path) -> None:
    from costhq.application.session_queries import GetStats

    container = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    stats = container.get_stats()
    assert type(stats) is GetStats and stats is container.get_stats()
    assert stats.uow is container.read_uow()  # a read-only use case gets the read-only factory


def test_the_front_end_container_resolves_every_provider(tmp_path: Path) -> None:
    container = build_container({"HOME": str(tmp_path), "COSTHQ_HOME": str(tmp_path / "data")})
    front = container.front_ends()
    front.check_dependencies()
    app = front.proxy_app(port=3739, pinned_session=None)
    assert app.state is not None
    assert front.dashboard_server(host="127.0.0.1", port=3737).port == 3737
    assert front.proxy_server(port=0, pinned_session=None).port == 0
