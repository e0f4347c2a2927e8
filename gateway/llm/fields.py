"""Which request fields the gateway forwards to vLLM, per endpoint: the upstream field policy.

A field reaches the upstream only if it is an OpenAI-standard field of that endpoint or a vLLM extension on
the allow-list (`DEFAULT_VLLM_EXTENSIONS`, plus `llm.extra_forward_fields` per deployment). Anything else is
refused with a 400 naming it, rather than dropped, so a client never believes a parameter took effect.

Not on the default list, and why (an operator may still add some of them):
- `request_id`: vLLM's own request id; the gateway owns request ids, a client must not choose the upstream's.
- `chat_template`: an arbitrary Jinja template can repeat the prompt without bound (the input estimate would
  no longer bound the input tokens) and runs template code on the engine.
- `logits_processors`, `vllm_xargs`, `kv_transfer_params`, `ec_transfer_params`: load code by name or steer
  the engine's internals; not for tenants.
- `prompt_embeds`, `mm_processor_kwargs`, `media_io_kwargs`: inputs whose token count the gateway cannot
  estimate before the call, so no reservation could bound them.
- `priority`: tenants would set their own scheduling priority.
- `use_beam_search`: beam search does n× the engine work of sampling; allow it deliberately if at all.
- `stream_interval`: several tokens per chunk; a stream cut short reports no usage and is billed by its
  chunks (gateway/llm/accounting.py `estimate_usage`), which would then count too few.

Fields that set how much is generated (`n`, `best_of`, `max_tokens`, `max_completion_tokens`, `prompt`,
`stream`, `stream_options`) are read and rewritten by `gateway.llm.wire`, never passed blindly.
Specs: https://platform.openai.com/docs/api-reference/chat/create,
https://platform.openai.com/docs/api-reference/completions/create,
vLLM `vllm/entrypoints/openai/{chat_completion,completion}/protocol.py`.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.tracing.genai import Operation

__all__ = ["DEFAULT_VLLM_EXTENSIONS", "FieldPolicy"]

_OPENAI_CHAT = frozenset(
    {
        "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
        "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
        "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
        "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
        "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
        "verbosity", "web_search_options",
    }
)  # fmt: skip
_OPENAI_COMPLETIONS = frozenset(
    {
        "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens",
        "n", "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature",
        "top_p", "user",
    }
)  # fmt: skip

# vLLM's sampling and extra parameters that only shape or constrain what is sampled (bounded by max_tokens).
DEFAULT_VLLM_EXTENSIONS = frozenset(
    {
        "top_k", "min_p", "repetition_penalty", "length_penalty", "stop_token_ids",
        "include_stop_str_in_output", "ignore_eos", "min_tokens", "skip_special_tokens",
        "spaces_between_special_tokens", "truncate_prompt_tokens", "truncation_side", "allowed_token_ids",
        "bad_words", "prompt_logprobs", "logprob_token_ids", "return_tokens_as_token_ids",
        "return_token_ids", "structured_outputs", "guided_json", "guided_regex", "guided_choice",
        "guided_grammar", "guided_decoding_backend", "guided_whitespace_pattern", "add_special_tokens",
        "add_generation_prompt", "continue_final_message", "echo", "documents", "chat_template_kwargs",
        "include_reasoning", "thinking_token_budget", "repetition_detection",
        "watermarking", "cache_salt", "session_id",
    }
)  # fmt: skip


class FieldPolicy:
    """The set of forwardable fields per endpoint; built once from the settings."""

    def __init__(self, extra_fields: Iterable[str] = ()) -> None:
        extensions = DEFAULT_VLLM_EXTENSIONS | frozenset(extra_fields)
        self._allowed: dict[Operation, frozenset[str]] = {
            "chat": _OPENAI_CHAT | extensions,
            # `max_completion_tokens` is not a completions field: vLLM ignores it there, so a client
            # relying on it would get an unbounded (16-token default) answer it did not ask for.
            "text_completion": (_OPENAI_COMPLETIONS | extensions) - {"max_completion_tokens"},
        }

    def refused(self, operation: Operation, fields: Iterable[str]) -> str | None:
        """The first field that may not be forwarded on `operation`, or None."""
        allowed = self._allowed[operation]
        for name in fields:
            if name not in allowed:
                return name
        return None
