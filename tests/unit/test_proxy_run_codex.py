"""`cs run` and Codex: the `openai_base_url` override is added only where the user chose nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from costhq.adapters.cli.commands_proxy import client_command, codex_endpoint_choice

URL = 'openai_base_url="http://127.0.0.1:4242/openai/v1"'


@pytest.mark.parametrize("program", ["codex", "/usr/local/bin/codex", "C:\\npm\\codex.cmd"])
def test_codex_gets_the_override_before_its_own_arguments(program: str, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert client_command([program, "exec", "-m", "gpt-5", "fix it"], 4242, env) == [
        program, "-c", URL, "exec", "-m", "gpt-5", "fix it"]


@pytest.mark.parametrize("command", [["claude", "-p", "hi"], ["python", "agent.py", "codex"], ["aider"]])
def test_other_clients_are_left_as_they_are(command: list[str], tmp_path: Path) -> None:
    assert client_command(command, 4242, {"HOME": str(tmp_path)}) == command


def test_a_users_own_openai_base_url_wins_for_codex_too(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "OPENAI_BASE_URL": "https://gateway.example/v1"}
    assert client_command(["codex"], 4242, env) == ["codex"]


@pytest.mark.parametrize(("args", "chosen"), [
    (["-c", 'openai_base_url="http://x/v1"'], "-c openai_base_url"),
    (["-cmodel_provider=ollama", "exec"], "-c model_provider"),
    (["--config=model_providers.mine.base_url=http://x"], "-c model_providers.mine.base_url"),
    (["--oss", "exec", "hi"], "--oss"),
    (["--local-provider=lmstudio"], "--local-provider"),
    (["-c", 'model="gpt-5"', "exec", "-c openai_base_url is my prompt"], None),
])
def test_a_flag_choosing_the_endpoint_or_provider_is_respected(args: list[str], chosen: str | None,
                                                                tmp_path: Path) -> None:
    assert codex_endpoint_choice(args, {"HOME": str(tmp_path)}) == chosen


@pytest.mark.parametrize(("toml", "args", "chosen"), [
    ('openai_base_url = "https://gw.example/v1"\n', [], True),
    ('model_provider = "azure"\n', [], True),
    ('model_provider = "openai"\nmodel = "gpt-5"\n', [], False),
    ('[profiles.work]\nmodel_provider = "azure"\n', [], False),
    ('[profiles.work]\nmodel_provider = "azure"\n', ["-p", "work"], True),
    ('profile = "work"\n[profiles.work]\nmodel_provider = "azure"\n', [], True),
    ("not = [valid toml", [], False),
])
def test_codex_config_toml_choices_are_respected(toml: str, args: list[str], chosen: bool, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(toml)
    found = codex_endpoint_choice(args, {"CODEX_HOME": str(tmp_path), "HOME": "/nonexistent"})
    assert found == (f"an endpoint or provider in {tmp_path / 'config.toml'}" if chosen else None)
