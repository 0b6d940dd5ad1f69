"""The gateway's refusals: one exception per HTTP status, texts that never carry a value.

Their texts are constants or name only a parameter or header, never a non-public value;
the app layer's one error mapper turns them into the one JSON error shape.
"""

from __future__ import annotations

AUDIT_LOG = "audit log"
NOT_VISIBLE_DETAIL = "no supply point with this ID is visible to you"
ID_DETAIL = "supply_point_id must be 22 digits with area code 01–10"


class GatewayError(Exception):
    """A refusal the HTTP layer turns into a JSON error; ``detail`` is safe to show."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, header: str | None = None, parameter: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.header = header
        self.parameter = parameter

    def body(self) -> dict[str, str]:
        out = {"error": self.code, "detail": self.detail}
        if self.header:
            out["header"] = self.header
        if self.parameter:
            out["parameter"] = self.parameter
        return out


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"


class Unauthenticated(GatewayError):
    status = 401
    code = "unauthenticated"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class NotVisible(GatewayError):
    """Nonexistent, or nothing allowed: the same answer (no oracle)."""

    status = 404
    code = "not_found"

    def __init__(self) -> None:
        super().__init__(NOT_VISIBLE_DETAIL)


class Unavailable(GatewayError):
    """Store, grants, policy or audit could not answer: refused, nothing returned."""

    status = 503
    code = "unavailable"

    def __init__(self, what: str) -> None:
        super().__init__(f"the request was refused because the {what} could not answer")
        self.what = what

    @property
    def audit_failed(self) -> bool:
        return self.what == AUDIT_LOG
