"""The OpenAPI document: FastAPI's own, plus the two LLM routes and the bearer-key scheme.

The completion routes are plain Starlette routes (gateway/llm/routes.py says why), so FastAPI does not
see them; their request bodies are documented here with pydantic models used only for the document —
the gateway's own parser (gateway/llm/wire.py) is what validates them, and it lets through the
fields it does not model, as vLLM accepts many. Every `/v1/*` operation declares the bearer key and the
OpenAI-shaped error responses it can give, so a schema-driven tester (schemathesis) can call them all.

    install_openapi(app, llm=True)      # after the routes are added
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ChatCompletionRequest", "CompletionRequest", "install_openapi"]


class _Open(BaseModel):
    # Documentation only: unknown fields are passed through to vLLM, so the schema allows them.
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "user", "assistant", "tool", "developer"] = Field(..., description="Author.")
    content: str | list[dict[str, Any]] | None = Field(None, description="Text, or a list of content parts.")


class StreamOptions(_Open):
    include_usage: bool | None = Field(None, description="Add a final chunk with the usage.")


class _Sampling(_Open):
    model: str = Field(..., min_length=1, description="A model the gateway serves (GET /v1/models).")
    max_tokens: int | None = Field(None, ge=1, description="Most output tokens.")
    stream: bool = Field(False, description="Answer as server-sent events.")
    stream_options: StreamOptions | None = Field(None, description="Only with stream: true.")
    n: int | None = Field(None, ge=1, le=16, description="Choices to generate.")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = Field(None, description="Up to 4 stop sequences.", max_length=4)
    user: str | None = Field(None, max_length=256, description="The end user, for abuse tracking.")


class ChatCompletionRequest(_Sampling):
    """`POST /v1/chat/completions` (https://platform.openai.com/docs/api-reference/chat/create)."""

    messages: list[ChatMessage] = Field(..., min_length=1, max_length=1024)
    max_completion_tokens: int | None = Field(None, ge=1, description="Wins over max_tokens.")


class CompletionRequest(_Sampling):
    """`POST /v1/completions` (https://platform.openai.com/docs/api-reference/completions/create)."""

    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        ..., description="A string, strings, token ids or lists of token ids (one completion each)."
    )


_ERRORS = {
    "400": "malformed body (names the field)",
    "401": "missing or unknown API key",
    "404": "model not served",
    "408": "the body did not arrive within server.body_read_timeout_s",
    "413": "body larger than server.max_body_bytes",
    "415": "content type is not JSON",
    "422": "a field has a wrong value (names the field)",
    "429": "budget exceeded, or the upstream's rate limit",
    "502": "the upstream answered badly",
    "503": "the upstream or the ledger is unavailable",
    "504": "the upstream did not answer in time",
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def _error_responses() -> dict[str, Any]:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}
    return {code: {"description": text, "content": body} for code, text in _ERRORS.items()}


def _completion_operation(model: type[BaseModel], summary: str, op_id: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["llm"],
            "summary": summary,
            "operationId": op_id,
            "security": [{"bearerKey": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
                },
            },
            "responses": {
                "200": {
                    "description": "the upstream's answer; an SSE stream when stream is true",
                    "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {}},
                },
                **_error_responses(),
            },
        }
    }


def _add_llm_paths(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ChatCompletionRequest, CompletionRequest):
        doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(doc.pop("$defs", {}))
        components[model.__name__] = doc
    paths = schema.setdefault("paths", {})
    paths["/v1/chat/completions"] = _completion_operation(
        ChatCompletionRequest, "Chat completion (OpenAI-compatible)", "chat_completions"
    )
    paths["/v1/completions"] = _completion_operation(
        CompletionRequest, "Text completion (OpenAI-compatible)", "completions"
    )


def install_openapi(app: FastAPI, *, llm: bool) -> None:
    """Replace `app.openapi` with one that adds the LLM routes, the key scheme and the error bodies."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        if llm:
            _add_llm_paths(schema)
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["OpenAIError"] = _ERROR_SCHEMA
        components["securitySchemes"] = {"bearerKey": {"type": "http", "scheme": "bearer"}}
        for path, item in schema["paths"].items():
            if not path.startswith("/v1/"):
                continue
            for operation in item.values():
                operation.setdefault("security", [{"bearerKey": []}])
                for code, response in _error_responses().items():
                    if code == "422":  # FastAPI documents its own validation body; ours is OpenAI's
                        operation["responses"][code] = response
                    else:
                        operation["responses"].setdefault(code, response)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
