"""The scorecard's generated series detect like the live gateway does: the 20% error spike run live —
the vLLM simulator with its fault API, `modelgate serve`, a real Prometheus scraping both with the
project's rules — and the same spike generated and evaluated by promtool, the scorecard's path.

Bounded: 5 s scrapes and evaluations, every alert's `for:` shortened to 30 s in both runs (the same
change on both sides, so the comparison holds; the shipped 2 min would add two minutes to each), a
20 s calm stretch, and at most 150 s for the alert to fire.

Tolerance: the generated series have one sample a minute and place the fault on a minute boundary;
live, the fault lands anywhere between scrapes, Prometheus needs a scrape to see the errors and an
evaluation to act, and the test polls every second. So the two times may differ by up to one minute
plus two intervals plus the poll: 60 + 2 x 5 + 1 = 71 s.
"""

from __future__ import annotations

import shutil

import pytest

from monitoring.scorecard.live import live_error_spike

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="needs Debian's prometheus and promtool (`make system-deps`)",
    ),
]

INTERVAL = 5
TOLERANCE = 60 + 2 * INTERVAL + 1


def test_live_error_spike_fires_when_the_generated_one_does() -> None:
    result = live_error_spike(
        0.2, interval_seconds=INTERVAL, for_override="30s", calm_seconds=20, limit_seconds=150
    )
    print(result)  # the figures docs/scorecard.md quotes
    live, generated = result["live_detect_seconds"], result["generated_detect_seconds"]
    assert result["requests_per_minute"] > 60, result  # HighErrorRate's fast clause needs 1 request/s
    assert live is not None and generated is not None, result
    # Never before the fault, and no sooner than the shortened `for:` allows, on either side.
    assert live >= 30 and generated >= 30, result
    assert abs(live - generated) <= TOLERANCE, result
