"""The one error every channel raises: whether a later try may succeed, and why not now."""

from __future__ import annotations


class DeliveryError(Exception):
    """A send failed. `retryable` feeds `record_failure(retryable=...)` in the domain.

    Retryable: the other side may accept later (connection refused, timeout, 4xx SMTP reply,
    HTTP 408/429/5xx). Permanent: retrying the same message cannot help (5xx SMTP rejection,
    HTTP 4xx, bad TLS certificate, missing configuration); a person must fix something first.
    """

    def __init__(self, retryable: bool, reason: str, *, code: int | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.reason = reason
        self.code = code

    def __repr__(self) -> str:
        return f"DeliveryError(retryable={self.retryable}, reason={self.reason!r})"
