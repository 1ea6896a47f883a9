"""`cs hardware list|set|rm` and `cs local add|list|rm`: hardware presets and local models (issue 8)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cyclopts import App

from costhq.adapters._shared.views_local import compute_json, model_json, preset_json

__all__ = ["compute_json", "print_compute", "register"]
from costhq.adapters.cli.output import emit_json, print_table, say
from costhq.adapters.cli.params import Json
from costhq.domain.local_models import ComputeSummary
from costhq.domain.money import format_usd
from costhq.domain.sessions import format_duration


def _rate(value: Decimal) -> str:
    return f"${value.normalize():f}"


def print_compute(summary: ComputeSummary) -> None:
    """Compute per hardware tier and per model (human tables), when there is any."""
    if not summary.calls:
        return
    for title, groups in (("Local compute by hardware", summary.by_hardware),
                          ("Local compute by model", summary.by_model)):
        print_table(["Name", "Calls", "Compute", "Hours", "Cost", "API-equivalent"],
                    [(g.key, g.calls, format_duration(g.duration_ms // 1000), f"{g.hours:.4f}", format_usd(g.cost),
                      format_usd(g.api_equivalent_cost)) for g in groups], title=title)


def register(app: App, c: Any) -> None:
    """Add the `hardware` and `local` sub-apps."""
    hardware = App(name="hardware", help="Hardware presets: the hourly cost of compute for local models.")
    local = App(name="local", help="Local and self-hosted models (Ollama, vLLM, llama.cpp), priced by compute time.")
    app.command(hardware)
    app.command(local)

    @hardware.command(name="list")
    def hardware_list(*, json_: Json = False) -> int:
        """Show every hardware preset with its hourly rate and the source of the figure."""
        presets = c.list_presets()()
        if json_:
            emit_json({"presets": [preset_json(p) for p in presets]})
            return 0
        print_table(["Preset", "USD/hour", "Description", "Source"],
                    [(p.name, _rate(p.usd_per_hour), p.description, p.source) for p in presets])
        return 0

    @hardware.command(name="set")
    def hardware_set(name: str, usd_per_hour: str, *, description: str | None = None, json_: Json = False) -> int:
        """Add a preset or change its hourly rate (calls already recorded keep their rate).

        Parameters
        ----------
        name
            Preset name (letters, digits, . _ : @ + -).
        usd_per_hour
            USD per hour of compute (>= 0).
        description
            Human label.
        """
        p = c.set_preset()(name=name, usd_per_hour=usd_per_hour, description=description)
        if json_:
            emit_json({"preset": preset_json(p)})
        else:
            say(f"Preset {p.name}: {_rate(p.usd_per_hour)}/hour")
        return 0

    @hardware.command(name="rm")
    def hardware_rm(name: str, *, json_: Json = False) -> int:
        """Remove a preset (refused while a local model is billed at it).

        Parameters
        ----------
        name
            Preset name.
        """
        c.remove_preset()(name=name)
        if json_:
            emit_json({"removed": name})
        else:
            say(f"Removed preset {name}")
        return 0

    @local.command(name="add")
    def local_add(model: str, *, runtime: str, hardware: str, base_url: str | None = None,
                  api_equivalent: str | None = None, allow_remote: bool = False, json_: Json = False) -> int:
        """Register a local model: its calls cost compute time x the preset's hourly rate.

        Parameters
        ----------
        model
            Model name as logged (`cs log-ai -m MODEL`); the proxy serves it at /local/MODEL/.
        runtime
            ollama, vllm, llama.cpp or other.
        hardware
            Hardware preset it runs on (`cs hardware list`).
        base_url
            Where the runtime listens (default: the runtime's usual loopback port).
        api_equivalent
            A cloud model (e.g. openai/gpt-4o-mini) whose price is shown for comparison.
        allow_remote
            Allow a base URL on another host (you name that host on purpose).
        """
        m = c.add_local_model()(name=model, runtime=runtime, hardware=hardware, base_url=base_url,
                                api_equivalent=api_equivalent, allow_remote=allow_remote)
        if json_:
            emit_json({"localModel": model_json(m)})
        else:
            where = f", proxied at /local/{m.name}/ -> {m.base_url}" if m.base_url else ""
            say(f"Local model {m.name} ({m.runtime}) on {m.hardware}{where}")
        return 0

    @local.command(name="list")
    def local_list(*, json_: Json = False) -> int:
        """Show local models with their compute time and cost so far."""
        models, summary = c.list_local_models()(), c.local_compute_report()()
        used = {g.key: g for g in summary.by_model}
        if json_:
            emit_json({"localModels": [model_json(m, used.get(m.name)) for m in models],
                       "compute": compute_json(summary)})
            return 0
        print_table(["Model", "Runtime", "Hardware", "Base URL", "API-equivalent", "Calls", "Compute", "Cost"],
                    [(m.name, m.runtime, m.hardware, m.base_url or "", m.api_equivalent or "",
                      used[m.name].calls if m.name in used else 0,
                      format_duration(used[m.name].duration_ms // 1000) if m.name in used else "0s",
                      format_usd(used[m.name].cost) if m.name in used else "$0.00") for m in models])
        return 0

    @local.command(name="rm")
    def local_rm(model: str, *, json_: Json = False) -> int:
        """Forget a local model (its recorded calls keep their cost).

        Parameters
        ----------
        model
            Model name.
        """
        c.remove_local_model()(name=model)
        if json_:
            emit_json({"removed": model})
        else:
            say(f"Removed local model {model}")
        return 0
