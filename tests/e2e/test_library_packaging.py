"""The library's public modules, the optional-extra error, and `cs skill path`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.cli_runner import Cs


def test_public_entry_points_import() -> None:
    code = ("from costhq.agents import AgentSession, BudgetExceededError, run_agent_session\n"
            "from costhq.wrappers import tracked_gpt, tracked_claude\n"
            "from costhq.extensions import TrackedOpenAI, TrackedAnthropic, AsyncTrackedOpenAI\n"
            "import openai; assert issubclass(TrackedOpenAI, openai.OpenAI)\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_extensions_without_the_sdks_name_the_extras() -> None:
    hide = "import sys; sys.modules['openai'] = None; sys.modules['anthropic'] = None\n"
    r = subprocess.run([sys.executable, "-c", hide + "import costhq.extensions"], capture_output=True, text=True)
    assert r.returncode == 1 and "pip install 'costhq[openai]'" in r.stderr
    only_anthropic = "import sys; sys.modules['openai'] = None\nfrom costhq.extensions import TrackedOpenAI"
    r = subprocess.run([sys.executable, "-c", only_anthropic], capture_output=True, text=True)
    assert "TrackedOpenAI needs the openai SDK: pip install 'costhq[openai]'" in r.stderr


def test_cs_skill_path_points_at_the_shipped_skill(tmp_path: Path) -> None:
    cs = Cs(home=tmp_path, data=tmp_path / "data", cwd=tmp_path)
    doc = cs.ok("skill", "path")
    assert Path(doc["skillFile"]).read_text().startswith("---\nname: CostHQ\n")
    assert cs("skill", "path").stdout.strip() == doc["path"]
