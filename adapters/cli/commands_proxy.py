"""`cs proxy start|status` and `cs run`: the proxy server and the live watchers come from bootstrap
(the front-end container and the core graph), since adapters never import each other."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from typing import Annotated, Any

import attrs
from cyclopts import App, Parameter

from costhq.adapters.cli.output import emit_json, say
from costhq.adapters.cli.params import Json, SessionOpt, positive_session, usd, whole
from costhq.domain.errors import CostHQError, InvalidArgument

HOST = "127.0.0.1"  # the proxy never binds anything else
DEFAULT_PORT = 3739
PortOpt = Annotated[int, Parameter(name=["--port"], converter=whole, help="Port on 127.0.0.1.")]


class ProxyNotRunning(CostHQError):
    """No proxy answers on that port."""

    code = "proxy_not_running"


def base_urls(port: int) -> dict[str, str]:
    """The base URLs of the spec (the SDKs' doubled `/v1/v1` is handled by the proxy)."""
    return {"ANTHROPIC_BASE_URL": f"http://{HOST}:{port}/anthropic/v1",
            "OPENAI_BASE_URL": f"http://{HOST}:{port}/openai/v1"}


def env_lines(env: dict[str, str], *, os_name: str = os.name, environ: Any = None) -> list[str]:
    """Lines to paste for the user's shell: PowerShell, cmd, fish or POSIX sh."""
    environ = os.environ if environ is None else environ
    if os_name == "nt":
        if "PROMPT" in environ:  # cmd.exe defines PROMPT; PowerShell does not
            return [f"set {k}={v}" for k, v in env.items()]
        return [f'$env:{k}="{v}"' for k, v in env.items()]
    if os.path.basename(environ.get("SHELL", "")) == "fish":
        return [f"set -x {k} {v}" for k, v in env.items()]
    return [f"export {k}={v}" for k, v in env.items()]


def _check_session(c: Any, session: int | None) -> int | None:
    sid = positive_session(session)
    if sid is not None:
        c.get_session()(cwd=os.getcwd(), session_id=sid)  # raises session_not_found
    return sid


def register_proxy(app: App, c: Any) -> None:
    """Add `cs proxy start|status` and `cs run`."""
    proxy = App(name="proxy", help="The local proxy: automatic cost capture for any tool.")
    app.command(proxy)

    @proxy.command
    def start(*, port: PortOpt = DEFAULT_PORT, session: SessionOpt = None, json_: Json = False) -> int:
        """Run the proxy in the foreground (Ctrl-C stops it after in-flight streams finish).

        Parameters
        ----------
        port
            Port to listen on (127.0.0.1 only).
        session
            Record every call on this session (default: the request's x-costhq-session header,
            else the most recently active session, else a "Background API Session").
        """
        pinned = _check_session(c, session)

        def announce(bound: int) -> None:
            env = base_urls(bound)
            if json_:
                emit_json({"url": f"http://{HOST}:{bound}", "port": bound, "pid": os.getpid(), "env": env})
            else:
                say(f"CostHQ proxy listening on http://{HOST}:{bound} (Ctrl-C to stop)")
                say("Point your tools at it:")
                for line in env_lines(env):
                    say(f"  {line}")
            sys.stdout.flush()  # a pipe is block-buffered: whoever reads us needs the lines now

        c.front_ends().proxy_server(port=port, pinned_session=pinned).serve(announce)
        return 0

    @proxy.command
    def status(*, port: PortOpt = DEFAULT_PORT, json_: Json = False) -> int:
        """Show whether a proxy runs on this port, its pid and its /health."""
        path = c.settings().data_dir / f"proxy-{port}.pid"
        pid = int(path.read_text().strip()) if path.exists() and path.read_text().strip().isdigit() else None
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as r:
                health = json.loads(r.read())
        except (OSError, ValueError):
            raise ProxyNotRunning(f"No CostHQ proxy answers on {HOST}:{port}", port=port, pid=pid) from None
        if json_:
            emit_json({"running": True, "pid": pid, "port": port, "url": f"http://{HOST}:{port}", "health": health})
        else:
            s = health.get("session")
            say(f"Proxy running on http://{HOST}:{port} (pid {pid or '?'}, up {health.get('uptime')}s)")
            say(f"Session: #{s['id']} {s['name']} (${s['aiCost']})" if s else "Session: none yet (background)")
        return 0

    @app.command(name="run")
    def run_(*command: str, name: str | None = None, budget: str | None = None, resume: bool = False,
             json_: Json = False) -> int:
        """Run a command with a session and a proxy: `cs run [--name N] -- CMD ARGS...`.

        Parameters
        ----------
        command
            The command and its arguments (after `--`).
        name
            Session name (default: the command line).
        budget
            Session budget in USD, enforced by the spend firewall.
        resume
            Resume this scope's active session instead of starting one.
        """
        return _run(c, list(command), name=name, budget=usd("--budget", budget), resume=resume, as_json=json_)


def _run(c: Any, command: list[str], *, name: str | None, budget: Any, resume: bool, as_json: bool) -> int:
    if not command:
        raise InvalidArgument("Give the command to run after `--`, e.g. `cs run -- claude`")
    cwd = os.getcwd()
    started = c.start_session()(name=name or " ".join(command)[:120], cwd=cwd, resume=resume)
    sid = started.session.id
    if budget is not None:
        c.set_budget()(scope="session", limit=budget, session_id=sid)
    try:
        # Recorded on a thread: one agent's calls come one after another, and its budget needs each
        # stored (its hold released, its cost learned: issue 14) before the next, which a recorder
        # process does a few ms later (ADR 0009).
        front = c.front_ends()
        config = attrs.evolve(front.proxy_config(), recorder="thread")
        proxy = front.proxy_server(port=0, pinned_session=sid, config=config).thread()
        try:
            # The same file and commit watchers as `cs start`: live file events, churn detection,
            # and paths outside git that the end-of-session backfill cannot see.
            with c.live_tracking().tracker(sid, directory=cwd):
                code = _child(client_command(command, proxy.port, os.environ), _child_env(proxy.port, sid))
        finally:
            proxy.stop()  # in-flight streams finish and their usage is flushed before the session ends
    finally:
        session = c.end_session()(cwd=cwd, session_id=sid)
    _summary(c, session, code, as_json)
    return code


# Each base URL and its aliases: litellm (and so aider) reads `*_API_BASE` first.
_ALIASES = {"ANTHROPIC_BASE_URL": ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"),
            "OPENAI_BASE_URL": ("OPENAI_BASE_URL", "OPENAI_API_BASE")}


def _child_env(port: int, sid: int) -> dict[str, str]:
    """The child's environment: the proxy's base URLs (and aliases) for each provider the user has
    not pointed elsewhere, and `COSTHQ_SESSION_ID`."""
    env = dict(os.environ)
    for key, value in base_urls(port).items():
        user = next((name for name in _ALIASES[key] if env.get(name)), None)
        if user is not None:
            sys.stderr.write(f"costhq: {user} is already set; leaving it ({env[user]}), calls there are not captured\n")
            continue
        for name in _ALIASES[key]:
            env[name] = value
    env["COSTHQ_SESSION_ID"] = str(sid)
    return env


def client_command(command: list[str], port: int, environ: Any) -> list[str]:
    """The command with the proxy injected where the client ignores the environment (see docs/clients.md).

    Codex's built-in `openai` provider takes its base URL only from its config key `openai_base_url`
    (recent releases ignore `OPENAI_BASE_URL`), so `codex ...` becomes
    `codex -c openai_base_url="<proxy>/openai/v1" ...`, unless the user already chose an endpoint or
    a provider for it (then a warning says calls there are not captured).
    """
    name = command[0].replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name not in ("codex", "codex.exe", "codex.cmd") or environ.get("OPENAI_BASE_URL"):
        return command  # not Codex, or the user's own OPENAI_BASE_URL (already warned about) wins
    chosen = codex_endpoint_choice(command[1:], environ)
    if chosen is not None:
        sys.stderr.write(f"costhq: codex already has {chosen}; leaving it, calls there are not captured\n")
        return command
    return [command[0], "-c", f'openai_base_url="{base_urls(port)["OPENAI_BASE_URL"]}"', *command[1:]]


_CODEX_KEYS = ("openai_base_url", "model_provider")


def codex_endpoint_choice(args: list[str], environ: Any) -> str | None:
    """Where the user already chose Codex's endpoint or provider (`-c`, `--oss`, config.toml), else None."""
    profile = None
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        setting = _config_setting(arg, value)
        key = None if setting is None else setting.split("=", 1)[0].strip()
        if key is not None and (key in _CODEX_KEYS or key.startswith("model_providers.")):
            return f"-c {key}"
        if arg in ("--oss", "--local-provider") or arg.startswith("--local-provider="):
            return arg.split("=", 1)[0]
        if arg in ("-p", "--profile"):
            profile = value
    return _codex_config_choice(environ, profile)


def _config_setting(arg: str, value: str) -> str | None:
    """The `key=value` of a Codex `-c`/`--config` flag (`-c k=v`, `-ck=v`, `--config=k=v`), else None."""
    if arg in ("-c", "--config"):
        return value
    if arg.startswith("--config="):
        return arg[len("--config="):]
    return arg[2:] if arg.startswith("-c") and len(arg) > 2 else None


def _codex_config_choice(environ: Any, profile: str | None) -> str | None:
    import tomllib
    from pathlib import Path

    home = environ.get("CODEX_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".codex")
    path = Path(home) / "config.toml"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None  # no config (or one Codex itself will refuse): nothing chosen there
    sections = [doc]
    profile = profile or doc.get("profile")
    if isinstance(profile, str) and isinstance(doc.get("profiles"), dict) and isinstance(doc["profiles"].get(profile),
                                                                                         dict):
        sections.append(doc["profiles"][profile])
    for section in sections:
        if section.get("openai_base_url") or section.get("model_provider") not in (None, "openai"):
            return f"an endpoint or provider in {path}"
    return None


def _child(command: list[str], env: dict[str, str]) -> int:
    """Run the child; forward SIGTERM, and SIGINT unless the terminal already sent it to the child."""
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as exc:
        raise InvalidArgument(f"cannot run {command[0]!r}: {exc.strerror}") from None
    foreground = False
    with contextlib.suppress(OSError, AttributeError, ValueError):  # no TTY, or not POSIX
        foreground = os.getpgrp() == os.tcgetpgrp(sys.stdin.fileno())

    def forward(signum: int, _frame: Any) -> None:
        if not (signum == signal.SIGINT and foreground):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 128 - code if code < 0 else code


def _summary(c: Any, s: Any, code: int, as_json: bool) -> None:
    from costhq.adapters._shared import views
    from costhq.domain.money import format_usd
    from costhq.domain.sessions import format_duration

    now = c.clock().now()
    if as_json:
        emit_json({**views.session_json(s, now), "exitCode": code})
        return
    say(f"Session #{s.id} {s.name}: {format_duration(s.duration(now))} • {s.files_changed} files • "
        f"{s.commits} commits • {s.ai_calls} AI calls • {format_usd(s.ai_cost)} AI cost (exit {code})")
