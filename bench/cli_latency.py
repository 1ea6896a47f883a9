"""`cs` start-up latency (issues 2 and 7): median/p95 wall time of hot commands, plus N processes x M `log-ai`.

Run: .venv/bin/python bench/cli_latency.py [--runs 30] [--procs 8] [--per-proc 100] [--compare REV|DIR] [--cs PATH]

Every command runs as a fresh process on a data dir that is already migrated and whose price index
is warm (the state after the first call). Baselines measured in the same run: the bare interpreter
(`python -c pass`, `python -S -c pass`) and the framework floor of a hot command (importing attrs
and cyclopts). Ratios are against `python -c pass`.

`--cs PATH` times that `cs` executable (and its own interpreter for the baselines) instead of the dev
venv's: point it at a venv made by a plain `pip install .` to get the figure users see, without the
editable-install finder that the dev venv's site runs on every start (~15-25 ms here).

`--compare REV` adds a before/after table: the tree of git revision REV (`git archive`, read-only),
or a directory holding a copy of the four roots, and the working tree, each run as `python -S` with
the tree and site-packages on `sys.path`, so neither pays the editable-install finder. Each tree gets
its own data dir, migrated by its own code.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

CS = str(Path(sys.executable).with_name("cs"))
PY = sys.executable
# The hot commands' floor: the domain's attrs and Cyclopts. dependency-injector is imported only by the
# long-running front ends (ADR 0003), so it is not part of a hot command's floor any more.
FLOOR = "import attrs, cyclopts"
TARGETS = {"cs log-ai --json": 100.0, "cs status --json": 100.0, "cs statusline": 80.0}
LOG_AI = ["log-ai", "-p", "anthropic", "-m", "claude-sonnet-4", "--prompt-tokens", "1234", "--completion-tokens",
          "567", "--json"]
CALL_COST = (Decimal(1234) * 3 + Decimal(567) * 15) / Decimal(1_000_000)  # claude-sonnet-4: $3 / $15 per 1M


def timed(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    elapsed = (time.perf_counter() - t) * 1000
    if p.returncode != 0:
        raise SystemExit(f"{cmd} failed: {p.stderr.decode()}")
    return elapsed


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def cs_json(args: list[str], env: dict[str, str], cwd: str) -> dict:  # type: ignore[type-arg]
    return json.loads(subprocess.run([CS, *args], env=env, cwd=cwd, check=True, capture_output=True).stdout)


def latency(runs: int, env: dict[str, str], cwd: str) -> None:
    cases = [
        ("python -c pass (baseline)", [PY, "-c", "pass"]),
        ("python -S -c pass (no site)", [PY, "-S", "-c", "pass"]),
        ("framework floor (attrs+cyclopts)", [PY, "-c", FLOOR]),
        ("cs log-ai --json", [CS, *LOG_AI]),
        ("cs status --json", [CS, "status", "--json"]),
        ("cs statusline", [CS, "statusline"]),
    ]
    results: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(runs):  # interleaved, so load changes on the shared machine hit every row alike
        for name, cmd in cases:
            results[name].append(timed(cmd, env, cwd))
    base = statistics.median(results[cases[0][0]])
    print(f"{'command':38} {'median ms':>10} {'p95 ms':>8} {'x python':>9} {'target':>8}")
    for name, xs in results.items():
        med = statistics.median(xs)
        target = TARGETS.get(name)
        verdict = "" if target is None else f"{'ok' if med <= target else 'MISS'} <={target:.0f}"
        print(f"{name:38} {med:10.1f} {pct(xs, 0.95):8.1f} {med / base:9.2f} {verdict:>8}")


def _tree(rev: str | None, root: Path) -> Path:
    """A `costhq` namespace of the four roots, from the working tree, a directory, or git revision `rev`."""
    repo = Path(__file__).resolve().parents[1]
    src = repo
    if rev is not None and Path(rev).is_dir():
        src = Path(rev).resolve()
    elif rev is not None:
        src = root / "src"
        src.mkdir()
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev], check=True, capture_output=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(src, filter="data")
    pkg = root / "costhq"
    pkg.mkdir()
    for name in ("domain", "application", "adapters", "bootstrap"):
        (pkg / name).symlink_to(src / name)
    return root


def compare(rev: str, runs: int) -> None:
    site = sysconfig.get_paths()["purelib"]
    rows: list[tuple[str, list[float], list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="costhq-cmp-") as tmp:
        trees = []
        for label, r in ((rev, rev), ("working tree", None)):
            root = Path(tmp) / ("old" if r else "new")
            root.mkdir()
            path = _tree(r, root)
            launcher = [PY, "-S", "-c", f"import sys; sys.path[:0] = [{str(path)!r}, {site!r}]; "
                        "from costhq.bootstrap.main import main; main()"]
            env = {**os.environ, "COSTHQ_HOME": str(root / "data"), "HOME": str(root)}
            subprocess.run([*launcher, "start", "bench", "--json"], env=env, cwd=root, check=True, capture_output=True)
            subprocess.run([*launcher, *LOG_AI], env=env, cwd=root, check=True, capture_output=True)
            trees.append((label, launcher, env, str(root)))
        cases = [("log-ai --json", LOG_AI), ("status --json", ["status", "--json"]), ("statusline", ["statusline"])]
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(runs):
            for name, args in cases:
                for label, launcher, env, cwd in trees:
                    times.setdefault((name, label), []).append(timed([*launcher, *args], env, cwd))
        for name, _args in cases:
            rows.append((name, times[(name, trees[0][0])], times[(name, trees[1][0])]))
    print(f"\nbefore/after without the editable finder (python -S; {rev} vs working tree), {runs} runs")
    print(f"{'cs ...':16} {'before med':>10} {'p95':>7} {'after med':>10} {'p95':>7} {'after/before':>12}")
    for name, old, new in rows:
        mo, mn = statistics.median(old), statistics.median(new)
        print(f"{name:16} {mo:10.1f} {pct(old, 0.95):7.1f} {mn:10.1f} {pct(new, 0.95):7.1f} {mn / mo:12.2f}")


def worker(args: tuple[int, dict[str, str], str, int]) -> list[str]:
    """Run n `log-ai` calls one after another; the output of each failed call."""
    sid, env, cwd, n = args
    cmd = [CS, *LOG_AI[:-1], "-s", str(sid), "--json"]
    failures = []
    for _ in range(n):
        p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
        if p.returncode != 0:
            failures.append((p.stdout + p.stderr).strip()[-400:])
    return failures


def concurrency(procs: int, per_proc: int, env: dict[str, str], cwd: str) -> None:
    sid = cs_json(["start", "concurrency", "--json"], env, cwd)["id"]
    t = time.perf_counter()
    with ThreadPoolExecutor(procs) as pool:  # each thread runs its processes one after another
        failures = [f for batch in pool.map(worker, [(sid, env, cwd, per_proc)] * procs) for f in batch]
    wall = time.perf_counter() - t
    errors = len(failures)
    shown = cs_json(["show", str(sid), "--json"], env, cwd)
    total = procs * per_proc
    rows = len(shown["aiUsage"])
    expected = CALL_COST * total
    stored = sum((Decimal(str(u["cost"])) for u in shown["aiUsage"]), Decimal(0))
    ok = rows == total and errors == 0 and Decimal(str(shown["aiCost"])) == expected == stored
    print(f"\nconcurrency: {procs} processes x {per_proc} `cs log-ai` on one data dir")
    print(f"  rows {rows} of {total}, errors {errors}, session aiCost {shown['aiCost']} (expected {expected}, "
          f"rows sum {stored}): {'exact' if ok else 'WRONG'}")
    for failure in failures[:5]:
        print(f"  failed call: {failure}")
    print(f"  wall {wall:.1f} s ({wall / total * 1000:.1f} ms per call; target <= 35 s: "
          f"{'ok' if wall <= 35 else 'MISS'})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--per-proc", type=int, default=100)
    ap.add_argument("--compare", metavar="REV", help="also time this git revision (or tree directory), before/after")
    ap.add_argument("--cs", metavar="PATH", help="the `cs` to time (default: the dev venv's); its venv's python "
                    "runs the baselines")
    a = ap.parse_args()
    if a.cs:
        global CS, PY
        CS = str(Path(a.cs).absolute())
        PY = str(Path(CS).with_name("python"))
    tmp = tempfile.mkdtemp(prefix="costhq-bench-")
    env = {**os.environ, "COSTHQ_HOME": f"{tmp}/data", "HOME": tmp}
    cs_json(["start", "bench", "--json"], env, tmp)
    cs_json(LOG_AI, env, tmp)  # migrates nothing new, but builds the warm price index once
    print(f"{time.strftime('%Y-%m-%d')}  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
          f"load {os.getloadavg()[0]:.2f}  runs {a.runs}  cs {CS}\n")
    latency(a.runs, env, tmp)
    cs_json(["end", "--json"], env, tmp)
    if a.compare:
        compare(a.compare, a.runs)
    if a.procs and a.per_proc:
        concurrency(a.procs, a.per_proc, env, tmp)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
