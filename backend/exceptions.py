"""Domain exceptions raised by services and turned into JSON errors by ``backend.errors``.

    DomainError                 4xx with a machine-readable ``code``
    ├── ValidationFailed        422 (field -> messages)
    ├── Conflict                409 (e.g. an ID number already registered)
    ├── NotFound                404
    ├── Forbidden               403 (authenticated but not allowed; ``restricted`` passes)
    ├── Unauthorized            401 (missing, unknown or revoked bearer secret)
    └── TooManyRequests         429 with Retry-After (a rate limit, backend.limits)

Rule problems come from ``risk.RulesetError`` and token problems from the verifier;
both are mapped to the same shape.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until the window resets: Retry-After
