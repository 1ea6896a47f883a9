"""Run the real `cs` in a subprocess with a private COSTHQ_HOME and HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pygit2

CS = str(Path(sys.executable).with_name("cs"))
SIG = pygit2.Signature("Test Dev", "dev@example.com", 1_700_000_000, 0)


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@attrs.define
class Cs:
    home: Path
    data: Path
    cwd: Path
    extra_env: dict[str, str] = attrs.Factory(dict)

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")}
        return {**keep, "HOME": str(self.home), "COSTHQ_HOME": str(self.data), "NO_COLOR": "1",
                "COLUMNS": "200", **self.extra_env}

    def __call__(self, *args: str, cwd: Path | None = None, stdin: str | None = None) -> Result:
        p = subprocess.run([CS, *args], cwd=cwd or self.cwd, env=self.env(), capture_output=True, text=True,
                           input=stdin, timeout=60)
        return Result(p.returncode, p.stdout, p.stderr)

    def ok(self, *args: str, cwd: Path | None = None) -> Any:
        r = self(*args, "--json", cwd=cwd)
        assert r.code == 0, (r.stdout, r.stderr)
        return r.json

    def fails(self, code: str, *args: str, cwd: Path | None = None) -> dict[str, Any]:
        r = self(*args, "--json", cwd=cwd)
        assert r.code == 1, (r.stdout, r.stderr)
        doc = r.json
        assert doc["schemaVersion"] == 1 and doc["error"]["code"] == code, doc
        assert "Traceback" not in r.stderr
        return doc


def make_repo(path: Path, files: dict[str, str] | None = None) -> pygit2.Repository:
    """A repo with one commit holding `files`."""
    repo = pygit2.init_repository(str(path), initial_head="main")
    for name, text in (files or {"README.md": "# demo\n"}).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    commit_all(repo, "initial")
    return repo


def commit_all(repo: pygit2.Repository, message: str) -> str:
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return str(repo.create_commit("HEAD", SIG, SIG, message, tree, parents))
