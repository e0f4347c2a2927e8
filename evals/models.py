"""Which model an eval talks to when none is named: the gateway's only one (`GET /v1/models`).

A newcomer with one model behind the gateway should not have to spell it out; with several, guessing
would evaluate the wrong one, so the job stops and lists them.

    model = pick_model(args.model or section.model, base_url, api_key, timeout_s=10)   # raises NoModel
"""

from __future__ import annotations

import openai

__all__ = ["NoModel", "gateway_models", "pick_model"]

# Listing models is one small GET: a gateway that needs longer is not there.
LIST_TIMEOUT_S = 10.0


class NoModel(Exception):
    """No model was named and the gateway does not settle it. The message is one line for the user."""


def gateway_models(base_url: str, api_key: str, *, timeout_s: float = LIST_TIMEOUT_S) -> list[str]:
    """The ids `GET {base_url}/models` lists, in the gateway's order. Raises openai.APIError subclasses."""
    with openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0) as client:
        return [model.id for model in client.models.list()]


def pick_model(
    explicit: str | None, base_url: str, api_key: str, *, timeout_s: float = LIST_TIMEOUT_S
) -> str:
    """`explicit` when given, else the gateway's only model. Raises `NoModel` naming what to do."""
    if explicit:
        return explicit
    try:
        models = gateway_models(base_url, api_key, timeout_s=min(timeout_s, LIST_TIMEOUT_S))
    except openai.APIStatusError as exc:
        raise NoModel(
            f"no model: pass --model or set evals.model (GET {base_url}/models answered {exc.status_code})"
        ) from None
    except openai.APIError as exc:
        raise NoModel(
            f"no model: pass --model or set evals.model (could not list the models at {base_url}: "
            f"{type(exc).__name__})"
        ) from None
    if len(models) == 1:
        return models[0]
    if not models:
        raise NoModel(f"no model: the gateway at {base_url} serves none; pass --model")
    raise NoModel(f"the gateway serves {len(models)} models ({', '.join(models)}): pass --model to pick one")
