"""Application-level errors raised by adapters in terms the core understands.

    CostHQError (domain)
    ├── StorageBusy           storage_busy      (database locked past the busy timeout)
    ├── Conflict              conflict          (a uniqueness/constraint violation)
    ├── IncompatibleStorage   incompatible_storage (a database this version cannot use)
    └── UpstreamUnavailable   upstream_error    (a provider could not be reached)
"""

from __future__ import annotations

from costhq.domain.errors import CostHQError


class StorageBusy(CostHQError):
    """The database stayed locked longer than the busy timeout."""

    code = "storage_busy"


class Conflict(CostHQError):
    """A write conflicted with existing data."""

    code = "conflict"


class UpstreamUnavailable(CostHQError):
    """The upstream provider could not be reached or timed out."""

    code = "upstream_error"


class IncompatibleStorage(CostHQError):
    """The database was written by a newer CostHQ (or is not a CostHQ database): refuse to touch it."""

    code = "incompatible_storage"
