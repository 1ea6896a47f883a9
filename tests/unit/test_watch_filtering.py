"""The watcher's pure rules, driven with synthetic watchdog events."""

from __future__ import annotations

from watchdog.events import (
    DirCreatedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from costhq.adapters.watchers.filtering import DebounceState, FsChange, debounce, keep, to_changes
from costhq.domain.sessions import ChangeType

SCOPE = "/home/me/build/repo"  # lives under a `build` folder: only paths *inside* the scope are judged


def test_events_become_scope_relative_changes() -> None:
    assert to_changes(FileModifiedEvent(f"{SCOPE}/src/a.py"), SCOPE, 5.0) == [
        FsChange("src/a.py", ChangeType.MODIFIED, 5.0)]
    assert to_changes(FileCreatedEvent(f"{SCOPE}/b.py"), SCOPE, 1.0)[0].change_type is ChangeType.CREATED
    assert to_changes(FileDeletedEvent(f"{SCOPE}/b.py"), SCOPE, 1.0)[0].change_type is ChangeType.DELETED
    assert to_changes(FileMovedEvent(f"{SCOPE}/old.py", f"{SCOPE}/new.py"), SCOPE, 2.0) == [
        FsChange("old.py", ChangeType.DELETED, 2.0), FsChange("new.py", ChangeType.CREATED, 2.0)]


def test_directory_close_and_outside_events_are_dropped() -> None:
    assert to_changes(DirCreatedEvent(f"{SCOPE}/pkg"), SCOPE, 1.0) == []
    assert to_changes(FileClosedEvent(f"{SCOPE}/a.py"), SCOPE, 1.0) == []
    assert to_changes(FileModifiedEvent("/home/me/other/a.py"), SCOPE, 1.0) == []
    assert to_changes(FileMovedEvent("/tmp/x.py", f"{SCOPE}/x.py"), SCOPE, 1.0) == [
        FsChange("x.py", ChangeType.CREATED, 1.0)]


def test_filter_ignores_names_dotfiles_and_gitignored_paths_but_not_the_scope_location() -> None:
    ignored_by_git = {"app.log", "out/report.txt"}
    paths = ["src/a.py", "node_modules/x/index.js", "dist/a.js", "build/o.o", ".git/HEAD", ".env",
             "src/.cache/x", "app.log", "out/report.txt", "distribution/a.py"]
    kept = [p for p in paths if keep(FsChange(p, ChangeType.MODIFIED, 0.0), ignored_by_git.__contains__)]
    assert kept == ["src/a.py", "distribution/a.py"]


def test_repeats_of_one_file_in_one_second_collapse_to_the_first() -> None:
    state = DebounceState()
    burst = [FsChange("a.py", ChangeType.CREATED, 10.0), FsChange("a.py", ChangeType.MODIFIED, 10.4),
             FsChange("b.py", ChangeType.MODIFIED, 10.5), FsChange("a.py", ChangeType.MODIFIED, 10.99)]
    assert debounce(burst, state) == [burst[0], burst[2]]
    later = [FsChange("a.py", ChangeType.MODIFIED, 11.0), FsChange("a.py", ChangeType.DELETED, 11.2)]
    assert debounce(later, state) == [later[0]]
    assert state.seen == {"a.py": 11}  # past windows are pruned


def test_debounce_keeps_exactly_the_distinct_file_second_pairs() -> None:
    changes = [FsChange(f"f{i % 7}.py", ChangeType.MODIFIED, 100 + i / 40) for i in range(400)]
    kept = debounce(changes, DebounceState())
    assert len(kept) == len({(c.path, int(c.at)) for c in changes}) == 70
