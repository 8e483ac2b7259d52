"""The call store's errors: each names the call (and alert) it is about."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's own errors."""


class CallExistsError(StoreError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} is already stored")
        self.call_id = call_id


class UnknownCallError(StoreError, KeyError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id!r}")
        self.call_id = call_id

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnknownAlertError(StoreError, KeyError):
    def __init__(self, call_id: str, alert_id: str) -> None:
        super().__init__(f"no alert {alert_id!r} in call {call_id!r}")
        self.call_id, self.alert_id = call_id, alert_id

    def __str__(self) -> str:
        return str(self.args[0])


class CallNotLiveError(StoreError):
    def __init__(self, call_id: str, status: str) -> None:
        super().__init__(f"call {call_id!r} already ended ({status})")
        self.call_id, self.status = call_id, status


class CallLiveError(StoreError):
    def __init__(self, call_id: str) -> None:
        super().__init__(f"call {call_id!r} is still live; erase it once it has ended")
        self.call_id = call_id
