"""The identity rule (domain/identity.py) applied inside a unit of work, for the recording pipeline.

Every path records through `application/usage.py`, which asks `load_ledger` once per batch and
then the ledger once per call: a replay of a stored key and a call another path already stored
are skipped there, nowhere else. Calls that carry nothing to match on (`cs log-ai`, MCP) cost
no look-up at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from costhq.application.ports.storage import UnitOfWork
from costhq.domain.identity import Decision, Ledger, Sighting, StoredIdentities, Verdict, legacy_identity

if TYPE_CHECKING:
    from costhq.application.usage import UsageInput


def keyed(call: UsageInput) -> UsageInput:
    """`call` with its identity complete: a spool line or record written before call keys existed
    carries only `request_id`, and gets the key and ids it would carry now (`legacy_identity`)."""
    if call.call_key is not None or call.request_id is None:
        return call
    key, rid, resp = legacy_identity(call.origin, call.request_id)
    return attrs.evolve(call, call_key=key, upstream_request_id=call.upstream_request_id or rid,
                        response_id=call.response_id or resp)


def sighting(call: UsageInput, now: datetime) -> Sighting:
    """The identity of a call about to be recorded (timestamped `now` when it has no time)."""
    return Sighting(origin=call.origin, provider=call.provider.strip().lower(), call_key=call.call_key,
                    upstream_request_id=call.upstream_request_id, response_id=call.response_id,
                    tokens=call.tokens, timestamp=call.timestamp or now)


def _matchable(s: Sighting) -> bool:
    printable = not s.tokens.is_empty and (s.idless_import or s.capture)
    return bool(s.call_key or s.upstream_request_id or s.response_id or printable)


def load_ledger(uow: UnitOfWork, sightings: list[Sighting]) -> Ledger:
    """The ledger of one batch: one storage look-up for all the calls that can match anything."""
    probes = [s for s in sightings if _matchable(s)]
    return Ledger.of(uow.usage.identities(probes) if probes else StoredIdentities())


def settle_identity(uow: UnitOfWork, ledger: Ledger, s: Sighting) -> Decision:
    """Decide `s`; a call seen by another path leaves its key with the record that holds it, so
    the same observation arriving again (a re-import, a retried hook) is a plain replay."""
    decision = ledger.decide(s)
    if decision.verdict is Verdict.SEEN and s.call_key is not None and decision.usage_id is not None:
        uow.usage.add_alias(s.call_key, decision.usage_id, s.origin)
    return decision
