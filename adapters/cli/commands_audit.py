"""`cs audit verify|head|export|log`: the tamper-evident audit chain."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

from cyclopts import App, Parameter

from costhq.adapters._shared import firewall_views as fv
from costhq.adapters.cli.output import emit_json, print_table, say
from costhq.adapters.cli.params import Json
from costhq.domain.audit import GENESIS
from costhq.domain.errors import AuditChainBroken


def register(app: App, c: Any) -> None:
    """Add the `audit` command group to `app`."""
    audit = App(name="audit", help="Tamper-evident audit log: verify, head, export, log.")
    app.command(audit)

    @audit.command
    def verify(*, expect_head: str | None = None, json_: Json = False) -> int:
        """Recompute the chain and check it covers every usage record, budget rule and price override;
        exit 1 naming the first bad seq and its kind (edited, deleted, renumbered, reordered,
        truncated, forged, key_required, unaudited). The data dir's head file catches truncation.

        Parameters
        ----------
        expect_head
            A head kept elsewhere (`HASH` or `SEQ:HASH` from `cs audit head`), checked too.
        """
        v = c.verify_audit()(expect_head=expect_head)
        if not v.ok:
            where = f"seq {v.bad_seq}" if v.bad_seq is not None else f"{v.table} {v.row_id}"
            raise AuditChainBroken(f"audit chain broken at {where} ({v.reason}): {v.detail}",
                                   **fv.verify_problem_json(v))
        if json_:
            emit_json(fv.verify_json(v))
        else:
            say(f"Audit chain OK: {v.count} entries, head {v.head_seq}:{v.head_hash}")
        return 0

    @audit.command
    def head(*, json_: Json = False) -> int:
        """Print the head (seq + hash) to keep somewhere else."""
        e = c.audit_head()()
        seq, digest = (e.seq, e.hash) if e else (0, GENESIS)
        if json_:
            emit_json({"seq": seq, "hash": digest, "head": f"{seq}:{digest}"})
        else:
            say(f"{seq}:{digest}")
        return 0

    @audit.command
    def export(*, format: Literal["jsonl"] = "jsonl") -> int:
        """Write every entry as JSON Lines to stdout (oldest first).

        Parameters
        ----------
        format
            jsonl (one entry per line).
        """
        for e in c.read_audit()():
            sys.stdout.write(json.dumps(fv.entry_json(e), ensure_ascii=False, sort_keys=True) + "\n")
        return 0

    @audit.command
    def log(*, limit: Annotated[int, Parameter(name=["--limit", "-l"])] = 20, json_: Json = False) -> int:
        """Show the newest entries.

        Parameters
        ----------
        limit
            How many entries.
        """
        rows = list(c.read_audit()(last=limit))
        if json_:
            emit_json({"entries": [fv.entry_json(e) for e in rows]})
            return 0
        print_table(["Seq", "Time", "Actor", "Event", "Payload", "Hash"],
                    [(e.seq, e.at, e.actor, e.event, json.dumps(dict(e.payload), sort_keys=True), e.hash[:12])
                     for e in rows])
        return 0
