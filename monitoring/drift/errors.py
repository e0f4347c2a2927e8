"""The drift jobs' one error: input they cannot judge.

    DriftInputError   missing reference or artifact, empty window, missing column, a category never
                      seen in training, NaNs, an unknown drift method, a bad config value

The CLI turns it into exit code 2 and prints its message, which is always one line naming the problem.
Lower-level errors (`gateway.logcontract.window.LogReadError`, `ConfigFileError`, `OSError`) are translated
into it at the boundary, with `raise ... from exc`.
"""

from __future__ import annotations

__all__ = ["DriftInputError"]


class DriftInputError(Exception):
    """The job cannot reach a verdict on this input. The message is one line for the user."""
