"""Ports: The clock every use case reads time from."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Source of the current aware UTC time."""

    def now(self) -> datetime: ...
