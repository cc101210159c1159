"""Errors that say what went wrong in English and also name the case, for interfaces in other languages."""

from __future__ import annotations


class Explained(Exception):
    """An error whose message is English and which names its case too: ``reason`` (a short key) and
    ``details`` (the values the message is made of, as strings), so that an interface can say the same
    thing in its own language. An error raised without a reason is only its message."""

    def __init__(self, message: str, reason: str = "", **details: str) -> None:
        super().__init__(message)
        self.reason, self.details = reason, details
