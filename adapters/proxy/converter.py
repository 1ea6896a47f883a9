"""The proxy's cattrs converter: lenient, for the spool's JSON lines (usage only, never bodies).

Provider payloads are read by metering.py with tolerant dict access instead: providers add
fields freely and a structuring error must never cost a usage record.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import cattrs


def make_converter() -> cattrs.Converter:
    """Decimal <-> str, aware datetime <-> ISO-8601, enums by value, extra keys ignored."""
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _t: Decimal(str(v)))
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(datetime, lambda v, _t: datetime.fromisoformat(v))
    return conv
