"""The errors the eval commands turn into exit 2 with one line on stderr (never a traceback).

    EvalInputError          bad input or usage: the message is one line for the user
    ├── SuiteError          a suite file cannot be used (names the file and line)
    ├── LogSampleError      the LLM request log cannot be read as asked
    └── BadInput            a bad argument value (e.g. --baseline)

Kept apart from the modules that raise them so `modelgate eval` can catch them without importing
openai or pyarrow first.
"""

from __future__ import annotations

__all__ = ["BadInput", "EvalInputError", "LogSampleError", "SuiteError"]


class EvalInputError(ValueError):
    """Exit 2 with this one-line message."""


class SuiteError(EvalInputError):
    """The suite cannot be used; the message names the file and line."""


class LogSampleError(EvalInputError):
    """The LLM request log cannot be read as asked."""


class BadInput(EvalInputError):
    """A bad argument value."""
