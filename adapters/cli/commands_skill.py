"""`cs skill path`: where the bundled OpenClaw skill (`skills/CostHQ/SKILL.md`) is installed."""

from __future__ import annotations

import os
from typing import Any

from costhq.adapters.cli.output import emit_json, say
from costhq.adapters.cli.params import Json


def skill_dir() -> str:
    """The installed `CostHQ` skill folder (copy it to `~/.openclaw/skills/`)."""
    from importlib.resources import files

    return str(files("costhq.skills") / "CostHQ")


def register(app: Any, _container: Any) -> None:
    """Add the `cs skill` group."""
    from cyclopts import App

    skill = App(name="skill", help="The agent skill shipped with CostHQ (OpenClaw).")

    @skill.command
    def path(*, file: bool = False, json_: Json = False) -> int:
        """Print the folder of the installed CostHQ skill (copy it to ~/.openclaw/skills/).

        Parameters
        ----------
        file
            Print the path of its SKILL.md instead of the folder.
        """
        folder = skill_dir()
        skill_file = os.path.join(folder, "SKILL.md")
        if json_:
            emit_json({"path": folder, "skillFile": skill_file})
        else:
            say(skill_file if file else folder)
        return 0

    app.command(skill)
