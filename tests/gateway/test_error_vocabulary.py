"""`openai_vocabulary`: an upstream's 4xx/429 in OpenAI's words (pure; the SDK's view is in
tests/integration/test_openai_errors.py)."""

from __future__ import annotations

import pytest

from gateway.errors import AuthenticationFailed, ModelNotFound, UpstreamStatus, openai_vocabulary, render


@pytest.mark.parametrize(
    ("status", "message", "upstream_type", "upstream_code", "expected"),
    [
        (429, "Too many requests", "RateLimitError", "429", ("rate_limit_error", "rate_limit_exceeded")),
        (
            400,
            "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.",
            "BadRequestError",
            "400",
            ("invalid_request_error", "context_length_exceeded"),
        ),
        (
            404,
            "The model `x` does not exist.",
            "NotFoundError",
            "404",
            ("invalid_request_error", "model_not_found"),
        ),
        (
            400,
            "'temperature' must be a number",
            "BadRequestError",
            "400",
            ("invalid_request_error", "upstream_status"),
        ),
        # An upstream that already speaks OpenAI keeps its words.
        (
            429,
            "quota",
            "insufficient_quota",
            "insufficient_quota",
            ("insufficient_quota", "insufficient_quota"),
        ),
        (400, "x", None, "context_length_exceeded", ("invalid_request_error", "context_length_exceeded")),
    ],
)
def test_upstream_answers_in_openai_words(
    status: int, message: str, upstream_type: str | None, upstream_code: str | None, expected: tuple[str, str]
) -> None:
    assert openai_vocabulary(status, message, upstream_type, upstream_code) == expected


def test_rendered_bodies() -> None:
    body = render(UpstreamStatus(429, "slow down", upstream_type="RateLimitError")).body
    assert b'"type":"rate_limit_error"' in body and b'"code":"rate_limit_exceeded"' in body
    missing = render(ModelNotFound("model 'x' is not served here"))
    assert missing.status_code == 404
    assert b'"param":"model"' in missing.body and b'"code":"model_not_found"' in missing.body
    key = render(AuthenticationFailed("invalid API key"))
    assert (
        key.status_code == 401
        and b'"type":"invalid_request_error","param":null,"code":"invalid_api_key"' in key.body
    )
