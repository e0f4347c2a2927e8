"""The faults a scorecard month injects: when, for how long, which alerts catch them, and the goal.

Times are minutes from the month's start (minute 0 is a Monday, 00:00 UTC). `alerts` are the alerts
that count as catching the fault; any alert that fires between the injection and `attribute_until`
belongs to the fault (a symptom of it), not to the false-alarm count. The goals are issue 16's; where
it gives none (TTFT under load) the choice is written next to the fault and in docs/scorecard.md.

    for fault in ops_faults(days=30):
        fault.name, fault.start, fault.goal_seconds
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring.scorecard.series import MINUTES_PER_DAY

__all__ = ["Fault", "ops_faults"]

DAY, HOUR = MINUTES_PER_DAY, 60


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # the injection (monitoring/scorecard/ops.py, ml.py)
    start: int  # minute of injection
    duration: int  # minutes the fault lasts
    goal_seconds: float
    alerts: tuple[str, ...]
    attribute_after: int = 3 * HOUR  # minutes after the end during which alerts still belong to it
    params: tuple[tuple[str, Any], ...] = ()
    note: str = ""
    # The first minute at which any alert could know (labels 30 days late); None: from the injection.
    # A fault whose observable_at falls after the month is reported, not scored.
    observable_at: int | None = None

    @property
    def end(self) -> int:
        return self.start + self.duration

    @property
    def attribute_until(self) -> int:
        return self.end + self.attribute_after

    def observable_within(self, minutes: int) -> bool:
        return self.observable_at is None or self.observable_at < minutes

    def param(self, key: str) -> Any:
        return dict(self.params)[key]


def _at(day: int, hour: int, minute: int = 0) -> int:
    return day * DAY + hour * HOUR + minute


def ops_faults(days: int) -> list[Fault]:
    """The seconds-clock faults, spread over the month (scaled into a shorter one, kept apart by a day)."""
    catalogue = [
        Fault(
            "error_spike_5pct", "errors", _at(2, 14), 10, 300, ("HighErrorRate",), params=(("ratio", 0.05),)
        ),
        Fault(
            "error_spike_20pct", "errors", _at(4, 10), 10, 300, ("HighErrorRate",), params=(("ratio", 0.2),)
        ),
        Fault(
            "latency_p95_x3",
            "latency",
            _at(9, 15),
            30,
            600,
            ("HighLatencyP95", "LatencyP95Regression"),
            params=(("factor", 3.0),),
        ),
        Fault("llm_upstream_down", "upstream_down", _at(11, 11), 5, 120, ("LLMUpstreamDown",)),
        Fault(
            "ttft_x4_under_load",
            "ttft",
            _at(16, 20),
            30,
            900,
            ("LLMTimeToFirstTokenHigh",),
            params=(("factor", 4.0), ("load", 2.0)),
            note="no goal in the issue: 15 min = the alert's 10 min `for` plus its 5 min window",
        ),
        Fault(
            "llm_midstream_failures",
            "midstream",
            _at(21, 16),
            15,
            300,
            ("HighErrorRate",),
            params=(("ratio", 0.1),),
            note="10% of streams fail after their 200 header; the goal is the error spike's",
        ),
    ]
    if days >= 23:
        return catalogue
    # A short month (tests, quick runs): the same faults one per day from day 1, as many as fit.
    return [
        Fault(
            f.name,
            f.kind,
            _at(1 + i, 14),
            f.duration,
            f.goal_seconds,
            f.alerts,
            f.attribute_after,
            f.params,
            f.note,
        )
        for i, f in enumerate(catalogue)
        if 1 + i < days
    ]
