"""`ApiError`: a request the simulator refuses, rendered as vLLM's error body by the app.

vLLM answers two kinds of 400, and the simulator keeps them apart because clients see the difference:

- request-model validation (pydantic, before any serving code runs): type `"Bad Request"`, `param` the
  field's location (`"body.n"`) or the parameter a model validator named, and a message starting with
  `"1 validation error:"` (vLLM's `validation_exception_handler`);
- serving-time checks (context length, `SamplingParams`): type `"BadRequestError"` and vLLM's own text
  (`create_error_response`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ApiError", "validation_error"]


class ApiError(Exception):
    """An error the client should see as an OpenAI/vLLM-shaped JSON body with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        err_type: str = "BadRequestError",
        param: str | None = None,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type
        self.param = param
        self.headers = headers


def validation_error(errors: Sequence[Mapping[str, Any]], param: str | None) -> ApiError:
    """A request-model validation failure, worded and typed as vLLM's FastAPI handler renders it:
    "N validation error(s):" and then each pydantic error dict on its own line."""
    label = "error" if len(errors) == 1 else "errors"
    message = f"{len(errors)} validation {label}:\n" + "".join(f"  {err}\n" for err in errors)
    return ApiError(400, message.rstrip(), "Bad Request", param)
