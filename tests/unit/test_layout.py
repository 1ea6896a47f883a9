"""The layout the architecture page describes (docs/architecture.md), checked on the source.

import-linter holds the layers and the independence of the front ends; these checks add what its
contracts cannot say: the domain's allow-list, and bootstrap staying the composition root only.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_the_domain_imports_only_the_standard_library_attrs_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"attrs"}
    bad = {
        f"{path.name}: {name}"
        for path in sorted((ROOT / "domain").glob("*.py"))
        for name in _imports(path)
        if name.split(".")[0] not in allowed and not name.startswith("costhq.domain")
    }
    assert bad == set()


def test_bootstrap_is_only_the_composition_root() -> None:
    modules = sorted(p.name for p in (ROOT / "bootstrap").glob("*.py"))
    assert modules == ["__init__.py", "adapters.py", "container.py", "core.py", "data_dir.py", "main.py",
                       "settings.py"]
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "bootstrap").glob("*.py"))
    assert lines < 700


def test_each_use_case_module_imports_only_port_modules_not_a_catch_all() -> None:
    for path in sorted((ROOT / "application").glob("*.py")):
        assert "costhq.application.ports" not in _imports(path), path.name


def test_persistence_is_three_back_ends_and_what_they_share() -> None:
    base = ROOT / "adapters" / "persistence"
    packages = sorted(p.name for p in base.iterdir() if (p / "__init__.py").exists())
    assert packages == ["memory", "postgres", "sql", "sqlite"]  # sql/: statements both SQL back ends run
    common = sorted(p.name for p in base.glob("*.py"))
    assert common == ["__init__.py", "audit_head.py", "converter.py", "custom_prices.py", "errors.py",
                      "price_book.py", "price_catalog.py", "price_corrections.py", "reset_audit.py", "rows.py"]
