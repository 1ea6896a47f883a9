"""Domain errors: every failure a user can see, each with a stable snake_case code.

    CostHQError
    ├── InvalidArgument          invalid_argument
    │   ├── MissingTokens        missing_tokens
    │   ├── InvalidPricing       invalid_pricing
    │   ├── MissingDuration      missing_duration        (issue 8: local models)
    │   └── BaseUrlNotAllowed    base_url_not_allowed    (issue 8)
    ├── NotFound                 not_found
    │   ├── SessionNotFound      session_not_found
    │   ├── PresetNotFound       preset_not_found        (issue 8)
    │   └── LocalModelNotFound   local_model_not_found   (issue 8)
    ├── PresetInUse              preset_in_use           (issue 8)
    ├── SessionActive            session_active
    ├── NoActiveSession          no_active_session
    ├── UnknownModel             unknown_model
    ├── BudgetExceeded           budget_exceeded
    ├── RunawayDetected          runaway_detected
    └── AuditChainBroken         audit_chain_broken

Edges map these to exit codes / HTTP statuses; the code is the contract, never the message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CostHQError(Exception):
    """Base of every expected error. `code` is stable and documented."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidArgument(CostHQError):
    """Input failed validation (bad number, empty name, unknown option value)."""

    code = "invalid_argument"


class MissingTokens(InvalidArgument):
    """A usage record needs token counts (or an explicit cost) to be priced."""

    code = "missing_tokens"


class InvalidPricing(InvalidArgument):
    """A custom price is malformed (negative, not a number, unreadable file)."""

    code = "invalid_pricing"


class NotFound(CostHQError):
    """A referenced entity does not exist."""

    code = "not_found"


class SessionNotFound(NotFound):
    """No session has this id."""

    code = "session_not_found"


class SessionActive(CostHQError):
    """A session is already active in this scope."""

    code = "session_active"


class NoActiveSession(CostHQError):
    """No active session in this scope and none was named."""

    code = "no_active_session"


class UnknownModel(CostHQError):
    """No price is known for the model and no explicit cost was given."""

    code = "unknown_model"


class BudgetExceeded(CostHQError):
    """A blocking budget rule would be (or was) crossed."""

    code = "budget_exceeded"


class RunawayDetected(CostHQError):
    """The runaway detector tripped with action `block` for this session."""

    code = "runaway_detected"


class AuditChainBroken(CostHQError):
    """The audit chain does not verify."""

    code = "audit_chain_broken"


# --- issue 8: local models and hardware presets ---------------------------------------------------


class MissingDuration(InvalidArgument):
    """A local model is priced by compute time, and the call has no duration (nor a cost)."""

    code = "missing_duration"


class BaseUrlNotAllowed(InvalidArgument):
    """A local model's base URL points off this machine and the user did not allow it."""

    code = "base_url_not_allowed"


class PresetNotFound(NotFound):
    """No hardware preset has this name."""

    code = "preset_not_found"


class LocalModelNotFound(NotFound):
    """No local model has this name."""

    code = "local_model_not_found"


class PresetInUse(CostHQError):
    """A hardware preset cannot be removed while local models are billed at it."""

    code = "preset_in_use"
