"""Shared helpers of the issue-4 end-to-end tests: a `cs` in a temp git repo, and a real guard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from costhq.bootstrap.main import build_container
from tests.e2e.cli_runner import Cs, make_repo


def make_cs(tmp_path: Path, **env: str) -> Cs:
    repo = tmp_path / "repo"
    repo.mkdir()
    make_repo(repo)
    return Cs(home=tmp_path / "home", data=tmp_path / "data", cwd=repo, extra_env=dict(env))


def real_container(cs: Cs) -> Any:
    """The production container on the same data dir as `cs` (real APSW, real prices)."""
    return build_container({"HOME": str(cs.home), "COSTHQ_HOME": str(cs.data)})
