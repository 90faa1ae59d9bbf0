"""The call session: one live call from ``start`` to hang-up (see ``core.CallSession``)."""

from calls.bridge.session.core import CallSession
from calls.bridge.session.outcome import EndReason, SessionCounters, SessionOutcome

__all__ = ["CallSession", "EndReason", "SessionCounters", "SessionOutcome"]
