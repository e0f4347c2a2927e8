"""The gateway's error tree and the one handler that renders it.

    GatewayError                     status  type                    code
    ├── InvalidRequest               422     invalid_request_error   invalid_value (param names the field)
    ├── PayloadTooLarge              413     invalid_request_error   payload_too_large
    ├── UnsupportedMediaType         415     invalid_request_error   unsupported_media_type
    ├── AuthenticationFailed         401     invalid_request_error   invalid_api_key
    ├── NotFound                     404     invalid_request_error   not_found
    │   └── ModelNotFound            404     invalid_request_error   model_not_found (param "model")
    ├── PermissionDenied             403     permission_error        (one code per refusal:)
    │   ├── LaneNotAllowed                                           lane_not_allowed
    │   ├── ModelNotAllowed                                          model_not_allowed (param "model")
    │   └── AdminKeyRequired                                         admin_key_required
    ├── Conflict                     409     invalid_request_error   already_exists
    ├── RateLimitExceeded            429     requests | tokens       rate_limit_exceeded (OpenAI's types)
    ├── BudgetExceeded               429     insufficient_quota      budget_exceeded  (x-should-retry: false)
    ├── ConcurrencyLimitExceeded     429     rate_limit_error        concurrency_limit_exceeded
    ├── ServiceNotReady              503     service_unavailable     not_ready
    │   └── BudgetUnavailable        503     service_unavailable     budget_unavailable
    └── UpstreamError                        (the LLM upstream failed; mapped from adapters/vllm errors)
        ├── UpstreamBadResponse      502     upstream_error          bad_upstream_response
        ├── UpstreamUnavailable      503     upstream_error          upstream_unavailable
        ├── UpstreamTimeout          504     upstream_error          upstream_timeout
        └── UpstreamStatus           (the upstream's 4xx/429 passed through with its own status; type and
                                      code in OpenAI's words, see `openai_vocabulary`)

Bodies are OpenAI-shaped (https://platform.openai.com/docs/guides/error-codes):
`{"error": {"message", "type", "param", "code"}}`, with OpenAI's own `type`/`code` words where OpenAI has
one, so code written against api.openai.com reads ours the same way: a bad key is 401
`invalid_request_error`/`invalid_api_key` (the openai SDK raises `AuthenticationError`), an unknown model
404 `model_not_found` (`NotFoundError`), an upstream rate limit 429 `rate_limit_exceeded`
(`RateLimitError`), a prompt past the context window 400 `context_length_exceeded` (`BadRequestError`).
Routes raise; nobody copies a try/except into an endpoint.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

__all__ = [
    "AdminKeyRequired",
    "AuthenticationFailed",
    "BudgetExceeded",
    "BudgetUnavailable",
    "ConcurrencyLimitExceeded",
    "Conflict",
    "GatewayError",
    "InvalidRequest",
    "LaneNotAllowed",
    "ModelNotAllowed",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimitExceeded",
    "ServiceNotReady",
    "UnsupportedMediaType",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamStatus",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "error_body",
    "install_error_handlers",
    "openai_vocabulary",
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

    def openai_words(self) -> tuple[str, str]:
        """(type, code) of the rendered body."""
        return self.type, self.code


class InvalidRequest(GatewayError):
    status, type, code = 422, "invalid_request_error", "invalid_value"


class PayloadTooLarge(GatewayError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status, type, code = 415, "invalid_request_error", "unsupported_media_type"


class AuthenticationFailed(GatewayError):
    # OpenAI answers a bad key with type invalid_request_error (not authentication_error).
    status, type, code = 401, "invalid_request_error", "invalid_api_key"


class NotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "not_found"


class ModelNotFound(NotFound):
    """The request names a model this gateway does not serve."""

    code = "model_not_found"

    def __init__(self, message: str, **kw: Any):
        kw.setdefault("param", "model")
        super().__init__(message, **kw)


class PermissionDenied(GatewayError):
    status, type, code = 403, "permission_error", "permission_denied"


class LaneNotAllowed(PermissionDenied):
    code = "lane_not_allowed"


class ModelNotAllowed(PermissionDenied):
    code = "model_not_allowed"


class AdminKeyRequired(PermissionDenied):
    code = "admin_key_required"


class Conflict(GatewayError):
    status, type, code = 409, "invalid_request_error", "already_exists"


class RateLimitExceeded(GatewayError):
    """429 with OpenAI's body for a rate limit: `type` is `requests` or `tokens`, as api.openai.com sends."""

    status, type, code = 429, "requests", "rate_limit_exceeded"

    def __init__(self, message: str, *, limit_type: str, headers: dict[str, str]) -> None:
        super().__init__(message, headers=headers)
        self.limit_type = limit_type

    def openai_words(self) -> tuple[str, str]:
        return self.limit_type, self.code


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
    """The upstream answered 4xx/429: its status and message reach the client unchanged, its type and
    code translated into OpenAI's words (vLLM says `BadRequestError` / `400`)."""

    code = "upstream_status"

    def __init__(
        self,
        status: int,
        message: str,
        *,
        upstream_type: str | None = None,
        upstream_code: str | None = None,
        **kw: Any,
    ):
        super().__init__(message, **kw)
        self._status = status
        self._type, self._code = openai_vocabulary(
            status, message, upstream_type, upstream_code, kw.get("param")
        )

    @property
    def http_status(self) -> int:
        return self._status

    def openai_words(self) -> tuple[str, str]:
        return self._type, self._code


# OpenAI's error types (https://platform.openai.com/docs/guides/error-codes); anything else an upstream
# says (vLLM: the exception class name) is replaced by the type OpenAI gives that status.
_OPENAI_TYPES = frozenset(
    {"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
     "rate_limit_error", "insufficient_quota", "requests", "tokens", "server_error"}
)  # fmt: skip
_CONTEXT_LENGTH_WORDS = ("maximum context length", "context length is", "context_length_exceeded")


def openai_vocabulary(
    status: int,
    message: str,
    upstream_type: str | None = None,
    upstream_code: str | None = None,
    param: str | None = None,
) -> tuple[str, str]:
    """(type, code) in OpenAI's words for an upstream's 4xx/429 answer.

    An upstream that already speaks OpenAI (a string code) keeps its words. Otherwise: 429 is
    `rate_limit_error`/`rate_limit_exceeded`; a 400 whose message says the prompt or max_tokens passes the
    context window (vLLM's wording) is `context_length_exceeded`; a 404 about the model (vLLM: "The model
    `x` does not exist.", param "model") is `model_not_found`.
    """
    text = message.lower()
    if status == 429:
        type_, code = "rate_limit_error", "rate_limit_exceeded"
    elif status == 404 and (param == "model" or "model" in text):
        type_, code = "invalid_request_error", "model_not_found"
    elif status == 400 and any(words in text for words in _CONTEXT_LENGTH_WORDS):
        type_, code = "invalid_request_error", "context_length_exceeded"
    else:
        type_, code = "invalid_request_error", "upstream_status"
    if upstream_type in _OPENAI_TYPES:
        type_ = upstream_type
    if upstream_code and not upstream_code.isdigit():  # vLLM's code is the HTTP status: not a word
        code = upstream_code
    return type_, code


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def render(exc: GatewayError) -> JSONResponse:
    type_, code = exc.openai_words()
    return JSONResponse(
        error_body(exc.message, type_, code, exc.param), status_code=exc.http_status, headers=exc.headers
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
