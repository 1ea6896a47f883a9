"""The library's public modules, the optional-extra error, and `cs skill path`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.cli_runner import Cs

ROOT = Path(__file__).resolve().parents[2]


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
    only_openai = ("import sys; sys.modules['anthropic'] = None\n"
                   "from costhq.extensions import TrackedOpenAI; print(TrackedOpenAI.__mro__[1].__module__)\n"
                   "from costhq.extensions import AsyncTrackedAnthropic")
    r = subprocess.run([sys.executable, "-c", only_openai], capture_output=True, text=True)
    assert r.stdout == "openai\n"  # the SDK that is there still works
    assert "AsyncTrackedAnthropic needs the anthropic SDK: pip install 'costhq[anthropic]'" in r.stderr


def test_cs_skill_path_points_at_the_shipped_skill(tmp_path: Path) -> None:
    cs = Cs(home=tmp_path, data=tmp_path / "data", cwd=tmp_path)
    doc = cs.ok("skill", "path")
    assert Path(doc["skillFile"]).read_text() == (ROOT / "skills" / "CostHQ" / "SKILL.md").read_text()
    assert Path(doc["skillFile"]).parent == Path(doc["path"])
    assert cs("skill", "path").stdout.strip() == doc["path"]
    assert cs("skill", "path", "--file").stdout.strip() == doc["skillFile"]


def test_the_built_package_ships_the_skill_and_the_library_modules(tmp_path: Path) -> None:
    # `build_py` is the step of a wheel build that lays out packages and package data.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("domain", "application", "adapters", "bootstrap", "library", "skills"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py",
                        "--build-lib", str(tmp_path / "lib")], cwd=src, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lib = tmp_path / "lib" / "costhq"
    assert (lib / "skills" / "CostHQ" / "SKILL.md").read_text() == (ROOT / "skills" / "CostHQ" / "SKILL.md").read_text()
    assert all((lib / name / "__init__.py").is_file() for name in ("agents", "extensions", "wrappers"))
