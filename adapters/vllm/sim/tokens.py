"""The simulator's tokenizer: a deterministic word-and-punctuation split used for every token count.

A token is a run of word characters (`\\w+`) or one other non-space character, together with the
whitespace before it. Joining a text's tokens gives the text back (less trailing whitespace), so streamed
deltas concatenate to exactly the non-streamed answer, and `count_tokens` is what `usage` reports:

    >>> split_tokens("Hello, world!")
    ['Hello', ',', ' world', '!']
    >>> count_tokens("Hello, world!")
    4

A chat prompt costs its messages' content tokens plus `CHAT_MESSAGE_OVERHEAD` per message, standing in
for the role markers a chat template adds (Llama 3's template adds about four per message).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "CHAT_MESSAGE_OVERHEAD",
    "chat_prompt_tokens",
    "count_tokens",
    "id_pieces",
    "pad_pieces",
    "pad_tokens",
    "split_tokens",
]

CHAT_MESSAGE_OVERHEAD = 4

_TOKEN = re.compile(r"\s*(?:\w+|[^\w\s])")
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit"


def split_tokens(text: str) -> list[str]:
    """Split `text` into tokens, each keeping the whitespace that precedes it."""
    return _TOKEN.findall(text)


def count_tokens(text: str) -> int:
    """How many tokens `text` holds under `split_tokens`."""
    return len(_TOKEN.findall(text))


def chat_prompt_tokens(message_texts: Sequence[str]) -> int:
    """Prompt tokens of a chat: each message's content tokens plus the per-message template overhead."""
    return sum(len(_TOKEN.findall(text)) for text in message_texts) + CHAT_MESSAGE_OVERHEAD * len(
        message_texts
    )


def pad_tokens(text: str, n: int) -> list[str]:
    """Exactly `n` tokens of `text`: cut when longer, repeated (space-separated) when shorter.

    An empty text is replaced by filler words, so the echo answer always has `n` tokens.

    >>> "".join(pad_tokens("Hi!", 5))
    'Hi! Hi! Hi'
    """
    return pad_pieces(split_tokens(text), n)


def pad_pieces(pieces: list[str], n: int) -> list[str]:
    """`pad_tokens` for a text already split by `split_tokens`."""
    if not pieces:
        pieces = split_tokens(_FILLER)
    first = pieces[0].lstrip()
    if len(pieces) >= n:
        return [first, *pieces[1:n]] if n else []
    # Later repeats start with a space so "Hi!" pads to "Hi! Hi! Hi!" rather than "Hi!Hi!Hi!".
    repeat = [" " + first, *pieces[1:]]
    out = [first, *pieces[1:]]
    while len(out) < n:
        out.extend(repeat[: n - len(out)])
    return out


def id_pieces(token_ids: Sequence[int]) -> list[str]:
    """The text pieces a token-id prompt stands for: id `i` is the word `t<i>`, one token each, so the
    echo answer of a token-id prompt is deterministic and re-tokenizes to the same count.

    >>> "".join(id_pieces([7, 42]))
    ' t7 t42'
    """
    return [f" t{i}" for i in token_ids]
