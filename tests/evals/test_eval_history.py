"""The SQLite run history: runs, items, trailing baselines and the response cache."""

from dataclasses import replace

from evals.history import HistoryStore
from evals.records import ItemResult, outcomes_by_key, summarise_run
from evals.scorers import Outcome


def results(pattern: str) -> list[ItemResult]:
    """'ppf e' → pass, pass, fail, error (spaces ignored)."""
    kinds = {"p": Outcome.PASS, "f": Outcome.FAIL, "e": Outcome.ERROR}
    out = []
    for i, ch in enumerate(pattern.replace(" ", "")):
        outcome = kinds[ch]
        score = None if outcome is Outcome.ERROR else float(outcome is Outcome.PASS)
        out.append(
            ItemResult(
                item_id=f"i{i}",
                key=f"i{i}#h",
                outcome=outcome,
                score=score,
                output=f"out {i}",
                expected={"n": i},
                detail="boom" if score is None else "",
                latency_s=0.1 * (i + 1),
                input_tokens=10,
                output_tokens=5,
                cost_usd=0.001,
                tags=("t",),
            )
        )
    return out


def record(run_id, started, items, **kw):
    return summarise_run(run_id, "run", "core", "m", items, started_at=started, finished_at=started + 1, **kw)


def test_summary_counts_rates_tokens_cost_latency():
    rec = record("r1", 100.0, results("pppf e"))
    assert (rec.n_items, rec.n_pass, rec.n_fail, rec.n_error) == (5, 3, 1, 1)
    assert rec.pass_rate == 0.75  # errors are left out of the rate
    assert rec.score == 0.75
    assert (rec.input_tokens, rec.output_tokens) == (50, 25)
    assert rec.cost_usd == 0.005
    assert rec.latency_p50_s == 0.25  # of the four answered items
    assert rec.status == "complete"
    assert record("r2", 1.0, results("pe e"), max_error_rate=0.5).status == "incomplete"


def test_outcomes_by_key_leave_errors_out():
    assert set(outcomes_by_key(results("pfe"))) == {"i0#h", "i1#h"}


def test_round_trip_and_trailing_baseline(tmp_path):
    path = tmp_path / "evals" / "history.sqlite"
    with HistoryStore.open(path) as store:
        for n, started in enumerate([10.0, 20.0, 30.0, 40.0]):
            rec = replace(record(f"r{n}", started, results("ppf")), verdict="ok", summary={"n": n})
            store.record_run(rec, results("ppf"))
        store.record_run(record("bad", 35.0, results("eee"), max_error_rate=0.2), results("eee"))
        store.record_run(
            summarise_run(
                "other", "run", "core", "other-model", results("p"), started_at=38.0, finished_at=39.0
            ),
            results("p"),
        )
        baseline = store.trailing_runs("run", "core", "m", k=2, before=40.0)
        assert [r.run_id for r in baseline] == [
            "r2",
            "r1",
        ]  # newest first; incomplete and other model skipped
        assert baseline[0].summary == {"n": 2}
        assert store.trailing_runs("sample", "core", "m", k=2, before=40.0) == []
        items = store.items("r3")
        assert items == results("ppf")
        store.set_verdict("r3", "regressed", {"x": 1})
    with HistoryStore.open(path) as again:  # persisted
        runs = again.list_runs(suite="core", model="m", limit=3)
        assert [r.run_id for r in runs] == ["r3", "bad", "r2"]
        assert runs[0].verdict == "regressed"
        assert len(again.list_runs(limit=100)) == 6


def test_response_cache(tmp_path):
    with HistoryStore.open(tmp_path / "h.sqlite") as store:
        assert store.cache_get("k") is None
        store.cache_put("k", "Paris.", 12, 3)
        hit = store.cache_get("k")
        assert hit is not None
        assert (hit.output, hit.input_tokens, hit.output_tokens) == ("Paris.", 12, 3)
