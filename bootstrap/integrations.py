"""Factories for the issue-7 providers (agent-log sources, git work-tree state, file identity).

Adapters are imported inside the factories, so commands that never import logs never load them.
"""

from __future__ import annotations

import os
from typing import Any


def claude_logs() -> Any:
    from costhq.adapters.watchers.claude_code_logs import ClaudeCodeLogs

    return ClaudeCodeLogs(os.environ, os.path.expanduser("~"))


def codex_logs() -> Any:
    from costhq.adapters.watchers.codex_logs import CodexLogs

    return CodexLogs(os.environ, os.path.expanduser("~"))


def work_tree() -> Any:
    from costhq.adapters.watchers.pygit2_today import Pygit2WorkTree

    return Pygit2WorkTree()


def file_state(path: str) -> tuple[int, int, int]:
    """(size, inode, mtime_ns) of a transcript; raises OSError when it is missing."""
    st = os.stat(path)
    return st.st_size, st.st_ino, st.st_mtime_ns


def file_state_provider() -> Any:
    return file_state
