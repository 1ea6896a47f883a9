"""The real `cs` (subprocess, private COSTHQ_HOME): hardware presets, local models, time-priced log-ai,
and compute per hardware tier / model in `cs stats` and `cs report`, with exact numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_runner import Cs


@pytest.fixture
def cs(tmp_path: Path) -> Cs:
    home, data, work = tmp_path / "home", tmp_path / "data", tmp_path / "work"
    for d in (home, work):
        d.mkdir()
    return Cs(home=home, data=data, cwd=work)


def test_hardware_presets_crud(cs: Cs) -> None:
    listed = cs.ok("hardware", "list")["presets"]
    assert [p["name"] for p in listed] == ["apple-silicon-cpu", "local-rtx-4090", "runpod-a100", "runpod-h100",
                                           "vast-a100", "vast-h100"]
    h100 = next(p for p in listed if p["name"] == "runpod-h100")
    assert (h100["usdPerHour"], h100["builtin"]) == (2.69, True) and "RunPod" in h100["source"]
    assert cs.ok("hardware", "set", "desk-3090", "0.085", "--description", "Desk RTX 3090")["preset"] == {
        "name": "desk-3090", "usdPerHour": 0.085, "description": "Desk RTX 3090", "source": "user", "builtin": False}
    changed = cs.ok("hardware", "set", "runpod-h100", "3")["preset"]
    assert (changed["usdPerHour"], changed["source"], changed["description"]) == (
        3, "user", "Cloud H100 80GB SXM (RunPod)")
    assert cs.ok("hardware", "rm", "desk-3090") == {"schemaVersion": 1, "costhqVersion": cs.ok(
        "hardware", "list")["costhqVersion"], "removed": "desk-3090"}
    assert len(cs.ok("hardware", "list")["presets"]) == 6
    human = cs("hardware", "list")
    assert human.code == 0 and "runpod-h100" in human.stdout and "$3" in human.stdout


def test_bad_input_gets_the_documented_error_shape_and_exit_1(cs: Cs) -> None:
    assert "finite number >= 0" in cs.fails("invalid_argument", "hardware", "set", "x", "-1")["error"]["message"]
    cs.fails("invalid_argument", "hardware", "set", "x", "lots")
    cs.fails("invalid_argument", "hardware", "set", "a/b", "1")
    cs.fails("preset_not_found", "hardware", "rm", "nope")
    cs.fails("preset_not_found", "local", "add", "llama3", "--runtime", "ollama", "--hardware", "nope")
    cs.fails("invalid_argument", "local", "add", "llama3", "--runtime", "docker", "--hardware", "vast-a100")
    err = cs.fails("base_url_not_allowed", "local", "add", "llama3", "--runtime", "ollama", "--hardware",
                   "vast-a100", "--base-url", "http://192.168.1.20:11434")
    assert err["error"]["details"] == {"host": "192.168.1.20"}
    cs.fails("unknown_model", "local", "add", "llama3", "--runtime", "ollama", "--hardware", "vast-a100",
             "--api-equivalent", "nobody/no-model")
    cs.fails("local_model_not_found", "local", "rm", "llama3")
    assert cs.ok("local", "list")["localModels"] == []  # nothing half-written
    human = cs("hardware", "rm", "nope")
    assert human.code == 1 and human.stderr.startswith("error: ") and "Traceback" not in human.stderr


def test_local_models_crud_and_remote_hosts_only_when_named(cs: Cs) -> None:
    m = cs.ok("local", "add", "llama3", "--runtime", "ollama", "--hardware", "runpod-h100",
              "--api-equivalent", "openai/gpt-4o-mini")["localModel"]
    assert {k: m[k] for k in ("name", "runtime", "hardware", "baseUrl", "proxyPath", "apiEquivalent")} == {
        "name": "llama3", "runtime": "ollama", "hardware": "runpod-h100", "baseUrl": "http://127.0.0.1:11434",
        "proxyPath": "/local/llama3", "apiEquivalent": "openai/gpt-4o-mini"}
    remote = cs.ok("local", "add", "qwen", "--runtime", "vllm", "--hardware", "vast-a100", "--base-url",
                   "http://gpu-box.lan:8000/v1/", "--allow-remote")["localModel"]
    assert remote["baseUrl"] == "http://gpu-box.lan:8000/v1"
    assert cs.ok("local", "add", "notes", "--runtime", "other", "--hardware", "apple-silicon-cpu")["localModel"][
        "baseUrl"] is None
    cs.fails("preset_in_use", "hardware", "rm", "runpod-h100")
    assert [x["name"] for x in cs.ok("local", "list")["localModels"]] == ["llama3", "notes", "qwen"]
    assert cs.ok("local", "rm", "notes")["removed"] == "notes"
    assert [x["name"] for x in cs.ok("local", "list")["localModels"]] == ["llama3", "qwen"]


def test_log_ai_with_duration_prices_compute_time_and_reports_show_it(cs: Cs) -> None:
    cs.ok("start", "local work")
    cs.ok("local", "add", "llama3", "--runtime", "ollama", "--hardware", "runpod-h100",
          "--api-equivalent", "openai/gpt-4o-mini")
    cs.ok("local", "add", "phi4", "--runtime", "llama.cpp", "--hardware", "local-rtx-4090")
    doc = cs.ok("log-ai", "-p", "ollama", "-m", "llama3", "--duration", "12.5", "--prompt-tokens", "1000",
                "--completion-tokens", "500")
    # 12.5 s x $2.69/h / 3600 = $0.00934027777... -> 0.0093402778; API-equivalent 1000 x 0.15 + 500 x 0.60 per 1M
    assert (doc["cost"], doc["priceSource"], doc["durationMs"]) == (0.0093402778, "local", 12500)
    assert doc["local"] == {"model": "llama3", "hardware": "runpod-h100", "usdPerHour": 2.69,
                            "durationSeconds": 12.5, "computeCost": 0.0093402778, "apiCost": 0,
                            "apiEquivalentModel": "openai/gpt-4o-mini", "apiEquivalentCost": 0.00045}
    cs.ok("log-ai", "-p", "llama.cpp", "-m", "phi4", "--duration", "5400")  # 1.5 h x $0.102 = $0.153
    cs.fails("missing_duration", "log-ai", "-p", "ollama", "-m", "llama3", "--prompt-tokens", "5")
    cs.fails("invalid_argument", "log-ai", "-p", "ollama", "-m", "llama3", "--duration", "-2")
    cs.fails("invalid_argument", "log-ai", "-p", "ollama", "-m", "llama3", "--duration", "3", "-c", "0.1")

    stats = cs.ok("stats")
    assert stats["totalAiCost"] == 0.1623402778 and stats["aiCalls"] == 2
    local = stats["localCompute"]
    assert (local["calls"], local["computeSeconds"], local["cost"], local["apiCost"], local["apiEquivalentCost"]) == (
        2, 5412.5, 0.1623402778, 0, 0.00045)
    tiers = local["byHardware"]
    assert [(g["name"], g["calls"], g["computeSeconds"], g["computeHours"], g["cost"]) for g in tiers] == [
        ("local-rtx-4090", 1, 5400, 1.5, 0.153), ("runpod-h100", 1, 12.5, 0.0034722222, 0.0093402778)]
    assert [g["name"] for g in local["byModel"]] == ["phi4", "llama3"]

    report = cs.ok("report", "models", "--model", "llama")
    assert [g["name"] for g in report["localCompute"]["byModel"]] == ["llama3"]
    assert cs.ok("report", "daily", "--since", "2000-01-01", "--until", "2000-01-02")["localCompute"]["calls"] == 0
    listed = {m["name"]: m for m in cs.ok("local", "list")["localModels"]}
    assert (listed["phi4"]["calls"], listed["phi4"]["computeHours"], listed["phi4"]["cost"]) == (1, 1.5, 0.153)
    human = cs("stats")
    assert human.code == 0 and "Local compute by hardware" in human.stdout and "1h 30m" in human.stdout
