"""Re-export the monitoring and eval jobs' latest results on `/metrics`, read at scrape time.

Jobs write one JSON file each (docs/contracts.md, "Job results"); this collector reads them on every
scrape, so alert rules see job output with no Pushgateway, and a job that stopped running is visible as
an old `modelgate_job_last_success_timestamp_seconds`. The gateway reads the files by schema; it imports
nothing from monitoring/.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["JobResultsCollector"]

log = logging.getLogger(__name__)


class JobResultsCollector(Collector):
    def __init__(self, results_dir: Path) -> None:
        self.results_dir = results_dir

    def _results(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.results_dir.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable job result %s: %s", path, exc)
                continue
            if isinstance(data, dict) and isinstance(data.get("job"), str):
                out.append(data)
        return out

    def collect(self) -> Iterator[Metric]:
        results = self._results()
        families: dict[str, GaugeMetricFamily] = {}
        label_names: dict[str, list[str]] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for result in results:
            for m in result.get("metrics") or []:
                try:
                    name, labels, value = (
                        m["name"],
                        {str(k): str(v) for k, v in m["labels"].items()},
                        float(m["value"]),
                    )
                except (KeyError, TypeError, ValueError, AttributeError):
                    continue
                key = (name, tuple(sorted(labels.items())))
                if key in seen:  # two variants reporting the same series: keep the first (sorted by file)
                    continue
                seen.add(key)
                names = sorted(labels)
                fam = families.get(name)
                if fam is None:
                    fam = families[name] = GaugeMetricFamily(name, str(m.get("help") or name), labels=names)
                    label_names[name] = names
                if names != label_names[name]:  # a sample that disagrees on the label set cannot join
                    continue
                fam.add_metric([labels[k] for k in names], value)
        yield from families.values()

        # Freshness per job: the newest success and the latest run's duration across its variants.
        last_success: dict[str, float] = {}
        duration: dict[str, tuple[float, float]] = {}
        for result in results:
            job = result["job"]
            ok_at = result.get("last_success_at")
            if isinstance(ok_at, int | float):
                last_success[job] = max(last_success.get(job, 0.0), float(ok_at))
            started, finished = result.get("started_at"), result.get("finished_at")
            newer = isinstance(finished, int | float) and (job not in duration or finished > duration[job][0])
            if isinstance(started, int | float) and isinstance(finished, int | float) and newer:
                duration[job] = (float(finished), float(finished) - float(started))
        fresh = GaugeMetricFamily(
            "modelgate_job_last_success_timestamp_seconds",
            "Unix time of the job's last successful run.",
            labels=["job"],
        )
        for job, ts in sorted(last_success.items()):
            fresh.add_metric([job], ts)
        yield fresh
        dur = GaugeMetricFamily(
            "modelgate_job_duration_seconds", "Wall time of the job's latest run.", labels=["job"]
        )
        for job, (_, seconds) in sorted(duration.items()):
            dur.add_metric([job], seconds)
        yield dur
