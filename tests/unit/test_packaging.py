"""Packaging guard rails (STYLE §4): every package folder is listed; the literal version is right."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path

from costhq.adapters._shared.version import VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = tool["package-dir"]
    found = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if "__pycache__" in rel.parts or any(p.startswith(".") for p in rel.parts):
                continue
            found.add(".".join([name, *rel.parts]))
    assert found == set(tool["packages"])


def test_version_literal_matches_the_installed_distribution() -> None:
    assert version("costhq") == VERSION
