"""vLLM's serving-time checks on a parsed request: context length, the token limit, sampling params.

These run after the request model validated (so their 400s are typed `BadRequestError`, with vLLM's own
wording), in vLLM's order: the output limit against the context window once per request
(`TokenizeParams`), every prompt's length (`_token_len_check`), then per prompt the generation limit
(`get_max_tokens`) and `SamplingParams._verify_args`.

    limit = generation_limit(prompt_tokens=10, requested=None, max_model_len=8192)  # 8182
"""

from __future__ import annotations

import math

from adapters.vllm.sim.errors import ApiError

__all__ = [
    "MAX_N_SEQUENCES",
    "check_output_limit",
    "check_prompt_length",
    "check_sampling",
    "generation_limit",
]

# VLLM_MAX_N_SEQUENCES' default.
MAX_N_SEQUENCES = 16384
# Below this temperature vLLM samples greedily (vllm/sampling_params.py _SAMPLING_EPS).
_SAMPLING_EPS = 1e-5


def check_output_limit(requested: int | None, param: str, max_model_len: int) -> None:
    """`TokenizeParams.__post_init__`: the requested output alone may not exceed the context window.

    The message is vLLM's, including its missing space and its `{max_total_tokens=}` echo."""
    max_output = requested or 0
    if max_output > max_model_len:
        raise ApiError(
            400,
            f"{param}={max_output}cannot be greater than max_model_len=max_total_tokens={max_model_len}. "
            "Please request fewer output tokens.",
            param=param,
        )


def check_prompt_length(prompt_tokens: int, requested: int | None, max_model_len: int) -> None:
    """`TokenizeParams._token_len_check`: prompt + requested output must fit the context window."""
    max_output = requested or 0
    max_input = max_model_len - max_output
    if prompt_tokens > max_input:
        raise ApiError(
            400,
            f"You passed {prompt_tokens} input tokens and requested {max_output} output tokens. "
            f"However, the model's context length is only {max_model_len} tokens, resulting in a "
            f"maximum input length of {max_input} tokens. Please reduce the length of the input prompt.",
            param="input_tokens",
        )


def generation_limit(prompt_tokens: int, requested: int | None, max_model_len: int) -> int:
    """`get_max_tokens`: the request's limit, or the rest of the context window when it has none."""
    if max_model_len < prompt_tokens:
        raise ApiError(
            400,
            f"Input length ({prompt_tokens}) exceeds model's maximum context length ({max_model_len}).",
        )
    rest = max_model_len - prompt_tokens
    return rest if requested is None else min(rest, requested)


def check_sampling(
    n: int, temperature: float | None, top_p: float | None, max_tokens: int, min_tokens: int = 0
) -> None:
    """The parts of `SamplingParams._verify_args` (and the greedy check) that bear on generation."""
    if n < 1:
        raise ApiError(400, f"n must be at least 1, got {n}.")
    if n > MAX_N_SEQUENCES:
        raise ApiError(
            400,
            f"n must be at most {MAX_N_SEQUENCES}, got {n}. To increase this limit, set the "
            "VLLM_MAX_N_SEQUENCES environment variable.",
        )
    temp = 1.0 if temperature is None else temperature
    if not math.isfinite(temp):
        raise ApiError(400, f"temperature must be a finite number, got {temp}.", param="temperature")
    if temp < 0.0:
        raise ApiError(400, f"temperature must be non-negative, got {temp}.", param="temperature")
    if temp > 2.0:
        raise ApiError(400, f"temperature must be in [0, 2], got {temp}.", param="temperature")
    top = 1.0 if top_p is None else top_p
    if not 0.0 < top <= 1.0:
        raise ApiError(400, f"top_p must be in (0, 1], got {top}.", param="top_p")
    if max_tokens < 1:
        raise ApiError(400, f"max_tokens must be at least 1, got {max_tokens}.", param="max_tokens")
    if min_tokens < 0:
        raise ApiError(400, f"min_tokens must be greater than or equal to 0, got {min_tokens}.")
    if min_tokens > max_tokens:
        raise ApiError(
            400, f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}."
        )
    if temp < _SAMPLING_EPS and n > 1:
        raise ApiError(400, f"n must be 1 when using greedy sampling, got {n}.")
