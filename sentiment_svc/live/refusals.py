"""Why the service refuses a call or a replay: the exceptions the web edge turns into close
codes (a busy service's refusal may succeed later, 1013; any other is final)."""

class CallRejected(Exception):
    """A call cannot start (duplicate id, service not ready); the message says why."""


class ServiceBusy(CallRejected):
    """Refused for the service's state, not the request's: the same request may succeed
    later (models loading, limits reached, recognition backlog)."""
