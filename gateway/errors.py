"""The gateway's error tree and the one handler that renders it.

    GatewayError                     status  type                    code
    ├── InvalidRequest               422     invalid_request_error   invalid_value (param names the field)
    ├── PayloadTooLarge              413     invalid_request_error   payload_too_large
    ├── UnsupportedMediaType         415     invalid_request_error   unsupported_media_type
    ├── AuthenticationFailed         401     authentication_error    invalid_api_key
    ├── NotFound                     404     invalid_request_error   not_found
    ├── BudgetExceeded               429     insufficient_quota      budget_exceeded  (x-should-retry: false)
    ├── ConcurrencyLimitExceeded     429     rate_limit_error        concurrency_limit_exceeded
    ├── ServiceNotReady              503     service_unavailable     not_ready
    │   └── BudgetUnavailable        503     service_unavailable     budget_unavailable
    └── UpstreamError                        (the LLM upstream failed; mapped from adapters/vllm errors)
        ├── UpstreamBadResponse      502     upstream_error          bad_upstream_response
        ├── UpstreamUnavailable      503     upstream_error          upstream_unavailable
        ├── UpstreamTimeout          504     upstream_error          upstream_timeout
        └── UpstreamStatus           (the upstream's 4xx/429 passed through with its own status)

Bodies are OpenAI-shaped (https://platform.openai.com/docs/guides/error-codes):
`{"error": {"message", "type", "param", "code"}}`. Routes raise; nobody copies a try/except into an endpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

__all__ = [
    "AuthenticationFailed",
    "BudgetExceeded",
    "BudgetUnavailable",
    "ConcurrencyLimitExceeded",
    "GatewayError",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "ServiceNotReady",
    "UnsupportedMediaType",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamStatus",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "error_body",
    "install_error_handlers",
]


class GatewayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}

    @property
    def http_status(self) -> int:
        return self.status


class InvalidRequest(GatewayError):
    status, type, code = 422, "invalid_request_error", "invalid_value"


class PayloadTooLarge(GatewayError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class AuthenticationFailed(GatewayError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class NotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "not_found"


class BudgetExceeded(GatewayError):
    """A hard budget refuses the request until its window resets: retrying sooner cannot succeed, so the
    response tells the openai SDK not to (`x-should-retry: false`) and says when it may (`Retry-After`)."""

    status, type, code = 429, "insufficient_quota", "budget_exceeded"


class ConcurrencyLimitExceeded(GatewayError):
    """The tenant already has its maximum of LLM requests in flight on this replica; a retry soon may pass."""

    status, type, code = 429, "rate_limit_error", "concurrency_limit_exceeded"


class ServiceNotReady(GatewayError):
    status, type, code = 503, "service_unavailable", "not_ready"


class BudgetUnavailable(ServiceNotReady):
    """The spend ledger cannot be reached, so no request can be admitted (fail closed)."""

    code = "budget_unavailable"


class UpstreamError(GatewayError):
    type = "upstream_error"


class UpstreamBadResponse(UpstreamError):
    status, code = 502, "bad_upstream_response"


class UpstreamUnavailable(UpstreamError):
    status, code = 503, "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status, code = 504, "upstream_timeout"


class UpstreamStatus(UpstreamError):
    """The upstream answered 4xx/429: its status and message reach the client unchanged."""

    code = "upstream_status"

    def __init__(self, status: int, message: str, *, upstream_type: str | None = None, **kw: Any):
        super().__init__(message, **kw)
        self._status = status
        self._type = upstream_type or ("rate_limit_error" if status == 429 else "invalid_request_error")

    @property
    def http_status(self) -> int:
        return self._status


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def render(exc: GatewayError) -> JSONResponse:
    type_ = exc._type if isinstance(exc, UpstreamStatus) else exc.type
    return JSONResponse(
        error_body(exc.message, type_, exc.code, exc.param), status_code=exc.http_status, headers=exc.headers
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    """`("body", "instances", 3, "tenure_months")` → `instances[3].tenure_months`."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif not str(p).startswith("function-"):  # pydantic's internal validator frames
            out += ("." if out else "") + str(p)
    return out or "body"


def describe_validation(exc: RequestValidationError) -> InvalidRequest:
    """The first validation problem, as one message naming the field."""
    err = exc.errors()[0]
    param = _field_path(tuple(err.get("loc", ())))
    kind = err.get("type", "")
    if kind == "json_invalid":
        return InvalidRequest("request body is not valid JSON", param="body")
    if kind == "missing":
        return InvalidRequest(f"{param}: field required", param=param)
    msg = str(err.get("msg", "invalid value"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return InvalidRequest(f"{param}: {msg}", param=param)


def install_error_handlers(app: FastAPI) -> None:
    async def on_gateway_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayError)
        return render(exc)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return render(describe_validation(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(str(exc.detail), "invalid_request_error", code),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def on_client_gone(_: Request, exc: Exception) -> Response:
        # The client left before its body arrived: nobody reads an answer, and it is not a server error.
        return Response(status_code=499)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the server log (uvicorn logs it); the client gets a plain 500.
        return JSONResponse(error_body("internal error", "server_error", "internal_error"), status_code=500)

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(Exception, on_unexpected)
