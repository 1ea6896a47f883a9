"""`cs today`: register projects and report each one's git state and last session.

Rules: a project is stored by its scope (git root, or the directory outside git); a path
that no longer exists is reported, never dropped silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import attrs

from costhq.application.ports.clock import Clock
from costhq.application.ports.git import GitMetadata, WorkTreeInspector
from costhq.application.ports.integrations import IntegrationsUnitOfWork
from costhq.domain.errors import InvalidArgument, NotFound
from costhq.domain.today import ProjectReport, TodayProject, WorkTreeState


@attrs.frozen
class AddTodayProject:
    """Register the project holding `path`."""

    uow: Callable[[], IntegrationsUnitOfWork]
    clock: Clock
    git: GitMetadata

    def __call__(self, *, path: str) -> TodayProject:
        if not os.path.isdir(path):
            raise InvalidArgument(f"{path} is not a directory")
        scope = self.git.scope(path).path
        with self.uow() as uow:
            return uow.today.add(TodayProject(path=scope, name=os.path.basename(scope) or scope,
                                              added_at=self.clock.now()))


@attrs.frozen
class RemoveTodayProject:
    """Unregister a project (by the path given, or the scope holding it)."""

    uow: Callable[[], IntegrationsUnitOfWork]
    git: GitMetadata

    def __call__(self, *, path: str) -> str:
        candidates = dict.fromkeys([os.path.realpath(os.path.abspath(path)), self.git.scope(path).path, path])
        with self.uow() as uow:
            for candidate in candidates:
                if uow.today.remove(candidate):
                    return candidate
        raise NotFound(f"{path} is not registered (see `cs today`)")


@attrs.frozen
class Today:
    """Every registered project with its git state and last session."""

    uow: Callable[[], IntegrationsUnitOfWork]
    inspector: WorkTreeInspector

    def __call__(self) -> list[ProjectReport]:
        with self.uow() as uow:
            projects = uow.today.all()
            last = {p.path: uow.reports.last_session(p.path) for p in projects}
        out = []
        for p in projects:
            exists = os.path.isdir(p.path)
            state = self.inspector.state(p.path) if exists else WorkTreeState(is_git=False)
            out.append(ProjectReport(project=p, state=state, last_session=last[p.path], exists=exists))
        return out
