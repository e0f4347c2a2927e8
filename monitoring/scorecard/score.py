"""From promtool's answers to the scorecard: per fault the alert that caught it and when; per alert the
false alarms per simulated month. Pure functions over the answers; the JSON shape is docs/scorecard.md's.

A fault is caught by the first of its `alerts` (matching its `match` labels, when it has some) to fire
between its injection and `attribute_until`. An alert onset outside every fault's window, or inside one
but not explained by it, is a false alarm. The first hour of the month is warm-up (no history yet).

    queries = plan(faults, minutes)
    card = score(faults, evaluate(store, queries), days=30, seed=1, minutes=minutes)
    card["met"], card["faults"][0]["detect_seconds"]
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from monitoring.scorecard.faults import Fault
from monitoring.scorecard.promtool import Query

__all__ = ["FALSE_ALARM_GOAL", "WARM_UP", "markdown", "plan", "score"]

FALSE_ALARM_GOAL = 1.0  # per simulated month, across all alerts
WARM_UP = 60  # minutes
CHUNK = 6 * 60  # the longest window one onset query covers (promtool's sample limit)
# The longest window one first-firing query covers. promtool's engine refuses a query that would load
# more than 10,000 samples in all, and `timestamp(ALERTS{...})[W:2m]` loads one per firing series per
# step: a week is 5,040 steps, so two alerts firing together for a week already break it (a month-long
# window once read as "not detected" for that reason). One day is 720 steps: 13 series firing at once.
# A fault that lasts the rest of the month (the model-validity ones) is asked day by day; the earliest
# firing wins. promtool.evaluate raises when a query still fails, so this cannot hide again.
FIRST_CHUNK = 24 * 60
Answers = Mapping[str, list[tuple[dict[str, str], float]]]


def _matches(fault: Fault, labels: Mapping[str, str]) -> bool:
    if labels.get("alertname") not in fault.alerts:
        return False
    match: Mapping[str, str] = dict(fault.params).get("match", {})
    return all(labels.get(k) == v for k, v in match.items())


def _chunks(faults: Sequence[Fault], minutes: int) -> list[tuple[int, int]]:
    """[start, end) stretches to count onsets in: split at every fault's start and window end."""
    cuts = {WARM_UP, minutes}
    for f in faults:
        cuts |= {min(max(f.start, WARM_UP), minutes), min(max(f.attribute_until, WARM_UP), minutes)}
    edges = sorted(cuts)
    out = []
    for a, b in itertools.pairwise(edges):
        while a < b:
            out.append((a, min(b, a + CHUNK)))
            a += CHUNK
    return out


def _pieces(start: int, end: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(end, a + size)) for a in range(start, end, size)]


def plan(faults: Sequence[Fault], minutes: int) -> list[Query]:
    """The questions for promtool: each fault's first firings (in pieces promtool accepts), each
    stretch's onsets."""
    queries = [
        Query(f"fault:{f.name}:{a}", "first", a, b)
        for f in faults
        for a, b in _pieces(f.start, min(f.attribute_until, minutes), FIRST_CHUNK)
    ]
    queries += [Query(f"onsets:{a}", "onsets", a, b) for a, b in _chunks(faults, minutes)]
    return queries


def _firings(answers: Answers, fault: Fault) -> list[tuple[dict[str, str], float]]:
    """Every piece's first firings of a fault's window, together."""
    prefix = f"fault:{fault.name}:"
    return [sample for key, samples in answers.items() if key.startswith(prefix) for sample in samples]


def _explained(faults: Sequence[Fault], labels: Mapping[str, str], start: int, end: int) -> bool:
    """An onset in [start, end) that a fault accounts for: inside its window, by one of its alerts
    (a fault with `match` labels explains only its own series; an ops fault explains any symptom)."""
    for f in faults:
        inside = start >= f.start and end <= f.attribute_until
        if not inside:
            continue
        if "match" in dict(f.params):
            if _matches(f, labels):
                return True
        else:
            return True
    return False


def score(
    faults: Sequence[Fault],
    answers: Answers,
    *,
    days: int,
    seed: int,
    minutes: int,
    deadlines: Mapping[str, float] | None = None,
    notes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The scorecard's JSON (docs/scorecard.md). `deadlines` overrides a fault's goal in seconds, `notes`
    its note. A fault not observable within the month (`within_month` false) is reported, never met,
    and left out of the card's verdict: the month cannot judge it."""
    rows = []
    for f in faults:
        fired = _firings(answers, f)
        hits = sorted(((value, labels) for labels, value in fired if _matches(f, labels)), key=lambda h: h[0])
        others = sorted({labels["alertname"] for labels, _ in fired} - set(f.alerts))
        goal = float((deadlines or {}).get(f.name, f.goal_seconds))
        detect = hits[0][0] - 60.0 * f.start if hits else None
        rows.append(
            {
                "name": f.name,
                "alert": hits[0][1]["alertname"] if hits else None,
                "detected": bool(hits),
                "detect_seconds": detect,
                "goal_seconds": goal,
                "met": detect is not None and detect <= goal,
                "also_fired": others,
                "injected_at_minute": f.start,
                "within_month": f.observable_within(minutes),
                "note": (notes or {}).get(f.name, f.note),
            }
        )
    false: Counter[str] = Counter()
    first_at: dict[str, int] = {}
    for key, samples in answers.items():
        if not key.startswith("onsets:"):
            continue
        start = int(key.split(":")[1])
        end = next(q_end for q_start, q_end in _chunks(faults, minutes) if q_start == start)
        for labels, count in samples:
            if count > 0 and not _explained(faults, labels, start, end):
                false[labels["alertname"]] += int(count)
                first_at.setdefault(labels["alertname"], start)
    scale = 30.0 / days
    alarms = [
        {"alert": name, "count": n, "per_month": round(n * scale, 2), "first_stretch_minute": first_at[name]}
        for name, n in sorted(false.items())
    ]
    total = round(sum(false.values()) * scale, 2)
    return {
        "seed": seed,
        "days": days,
        "faults": rows,
        "false_alarms": alarms,
        "false_alarms_per_month": total,
        "false_alarm_goal_per_month": FALSE_ALARM_GOAL,
        "met": all(r["met"] for r in rows if r["within_month"]) and total <= FALSE_ALARM_GOAL,
    }


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def markdown(cards: Sequence[Mapping[str, Any]]) -> str:
    """One table of faults (a column per seed) and one of false alarms."""
    seeds = [c["seed"] for c in cards]
    head = "| fault | goal | " + " | ".join(f"seed {s}: alert, time to fire" for s in seeds) + " |"
    lines = [head, "|---|---|" + "---|" * len(seeds)]
    for i, row in enumerate(cards[0]["faults"]):
        cells = []
        for c in cards:
            r = c["faults"][i]
            mark = "met" if r["met"] else "NOT MET" if r.get("within_month", True) else "after the month"
            cells.append(f"{r['alert'] or 'not detected'}, {_duration(r['detect_seconds'])} ({mark})")
        lines.append(f"| {row['name']} | {_duration(row['goal_seconds'])} | " + " | ".join(cells) + " |")
    lines += ["", "| seed | false alarms per month (goal <= 1) | by alert |", "|---|---:|---|"]
    for c in cards:
        by = ", ".join(f"{a['alert']} {a['per_month']}" for a in c["false_alarms"]) or "none"
        lines.append(f"| {c['seed']} | {c['false_alarms_per_month']} | {by} |")
    return "\n".join(lines) + "\n"
