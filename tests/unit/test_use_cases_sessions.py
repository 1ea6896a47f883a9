"""Session use cases on verified fakes: scoping, resume/close-stale, backfill, notes, recover."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costhq.application.sessions import AddNote, GetStats, ListSessions, RecoverStale
from costhq.application.usage import UsageInput
from costhq.domain.errors import InvalidArgument, NoActiveSession, SessionActive, SessionNotFound
from costhq.domain.git import CommitInfo, PathChange
from costhq.domain.sessions import ChangeType, SessionStatus
from costhq.domain.usage import TokenCounts
from tests.unit.core_world import REPO, make_world


def test_start_scopes_a_subdirectory_to_the_git_root_and_records_head() -> None:
    w = make_world()
    w.git.commit(REPO, CommitInfo(hash="a" * 40, message="init", timestamp=datetime(2026, 1, 1, tzinfo=UTC)))
    result = w.start()(name="  Fix auth ", cwd=f"{REPO}/apps/web")
    s = result.session
    assert (s.id, s.name, s.working_directory, s.git_root) == (1, "Fix auth", REPO, REPO)
    assert (s.start_git_head, s.branch, s.status) == ("a" * 40, "main", SessionStatus.ACTIVE)


def test_second_start_in_the_same_scope_fails_but_other_scopes_run_in_parallel() -> None:
    w = make_world()
    w.git.add_repo("/work/other")
    w.start()(name="one", cwd=REPO)
    with pytest.raises(SessionActive) as err:
        w.start()(name="two", cwd=REPO)
    assert err.value.code == "session_active"
    assert w.start()(name="parallel", cwd="/work/other").session.id == 2


def test_resume_returns_the_active_session_and_close_stale_ends_only_this_scope() -> None:
    w = make_world()
    w.git.add_repo("/work/other")
    first = w.start()(name="one", cwd=REPO).session
    other = w.start()(name="other", cwd="/work/other").session
    resumed = w.start()(name="again", cwd=REPO, resume=True)
    assert (resumed.resumed, resumed.session.id) == (True, first.id)
    fresh = w.start()(name="fresh", cwd=REPO, close_stale=True)
    assert fresh.closed_stale == (first.id,)
    with w.uow() as uow:
        assert uow.sessions.get(first.id).status is SessionStatus.COMPLETED
        assert uow.sessions.get(other.id).status is SessionStatus.ACTIVE


def test_empty_name_is_invalid_and_writes_nothing() -> None:
    w = make_world()
    with pytest.raises(InvalidArgument):
        w.start()(name="   ", cwd=REPO)
    assert ListSessions(w.uow)(limit=10) == []


def test_end_backfills_commits_and_working_tree_changes_since_start_head() -> None:
    w = make_world()
    start_sha = "b" * 40
    w.git.commit(REPO, CommitInfo(hash=start_sha, message="base", timestamp=datetime(2026, 1, 1, tzinfo=UTC)))
    s = w.start()(name="work", cwd=REPO).session
    w.clock.advance(minutes=12, seconds=17)
    w.git.commit(REPO, CommitInfo(hash="c" * 40, message="fix: null check", timestamp=w.clock.now(), author="Ann"))
    w.git.change(REPO, start_sha, [PathChange(path="src/pay.py", change_type=ChangeType.MODIFIED),
                                   PathChange(path="src/retry.py", change_type=ChangeType.CREATED)])
    ended = w.end()(cwd=REPO, notes="done")
    assert (ended.status, ended.files_changed, ended.commits, ended.notes) == (SessionStatus.COMPLETED, 2, 1, "done")
    assert ended.duration(w.clock.now()) == 737
    d = w.get()(cwd=REPO, session_id=s.id, detail=True)
    assert [(f.file_path, f.change_type) for f in d.files] == [
        ("src/pay.py", ChangeType.MODIFIED), ("src/retry.py", ChangeType.CREATED)]
    assert [(c.hash, c.message, c.author) for c in d.commits] == [("c" * 40, "fix: null check", "Ann")]


def test_end_without_active_session_and_unknown_id_use_their_codes() -> None:
    w = make_world()
    with pytest.raises(NoActiveSession):
        w.end()(cwd=REPO)
    with pytest.raises(SessionNotFound) as err:
        w.end()(cwd=REPO, session_id=99)
    assert err.value.code == "session_not_found"


def test_ending_twice_is_an_error_not_a_silent_rewrite() -> None:
    w = make_world()
    s = w.start()(name="x", cwd=REPO).session
    w.end()(cwd=REPO)
    with pytest.raises(InvalidArgument):
        w.end()(cwd=REPO, session_id=s.id)


def test_note_and_recover_and_stats() -> None:
    w = make_world()
    s = w.start()(name="old", cwd=REPO).session
    note = AddNote(w.uow, w.clock, w.git)(message="phase 1", cwd=REPO)
    assert (note.session_id, note.message) == (s.id, "phase 1")
    w.log()(call=UsageInput(provider="anthropic", model="claude-sonnet-4",
                            tokens=TokenCounts(input=8000, output=2000)), cwd=REPO)
    w.clock.advance(hours=13)
    assert RecoverStale(w.uow, w.clock)(max_age_hours=24) == []
    recovered = RecoverStale(w.uow, w.clock)(max_age_hours=12)
    assert [r.id for r in recovered] == [s.id]
    st = GetStats(w.uow, w.clock)()
    assert (st.total_sessions, st.active_sessions, st.ai_cost, st.ai_tokens, st.total_seconds) == (
        1, 0, Decimal("0.054"), 10000, 13 * 3600)


def test_recover_rejects_a_negative_or_nan_age() -> None:
    w = make_world()
    for bad in (-1, float("nan")):
        with pytest.raises(InvalidArgument):
            RecoverStale(w.uow, w.clock)(max_age_hours=bad)


def test_recover_with_max_age_zero_ends_every_active_session_even_one_started_this_instant() -> None:
    w = make_world()
    s = w.start()(name="just now", cwd=REPO).session
    assert [r.id for r in RecoverStale(w.uow, w.clock)(max_age_hours=0)] == [s.id]
    assert RecoverStale(w.uow, w.clock)(max_age_hours=0) == []
