"""The storage failure every back end reports when it is neither busy nor a conflict."""

from __future__ import annotations

from costhq.domain.errors import CostHQError


class StorageError(CostHQError):
    """Any other database failure (I/O error, corrupt file, cannot open, server gone)."""

    code = "storage_error"
