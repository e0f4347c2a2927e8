"""The label store: month partitions, idempotent appends, and corrections resolved to the newest record."""

from __future__ import annotations

import pandas as pd

from monitoring.labels.parse import LabelColumns, parse_labels, read_export
from monitoring.labels.store import append_records, current_labels, new_records, read_records

T1 = pd.Timestamp("2025-03-01T09:00:00Z")
T2 = pd.Timestamp("2025-03-02T09:00:00Z")


def _records(tmp_path, text: str, name: str = "billing.csv") -> pd.DataFrame:
    path = tmp_path / name
    path.write_text("customer_id,churned,known_at\n" + text, encoding="utf-8")
    return parse_labels(read_export(path), LabelColumns()).records


def _files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet"))


def test_partitioned_by_known_month_and_read_back(tmp_path):
    uri = str(tmp_path / "labels")
    recs = _records(tmp_path, "a,true,2025-01-31\nb,false,2025-02-01\nc,no,2025-02-15\n")
    assert append_records(uri, recs, source="billing.csv", ingested_at=T1) == 3
    parts = {p.split("/")[0] for p in _files(tmp_path / "labels")}
    assert parts == {"known_month=2025-01", "known_month=2025-02"}
    back = read_records(uri).sort_values("customer_id")
    assert back["customer_id"].tolist() == ["a", "b", "c"]
    assert back["churned"].tolist() == [1, 0, 0]
    assert (back["ingested_at"] == T1).all() and (back["source"] == "billing.csv").all()
    febr = read_records(uri, known_from=pd.Timestamp("2025-02-01", tz="UTC"))
    assert sorted(febr["customer_id"]) == ["b", "c"]


def test_ingesting_the_same_export_twice_changes_nothing(tmp_path):
    uri = str(tmp_path / "labels")
    recs = _records(tmp_path, "a,true,2025-01-31\nb,false,2025-02-01\n")
    assert append_records(uri, recs, source="billing.csv", ingested_at=T1) == 2
    files = _files(tmp_path / "labels")
    before = read_records(uri)
    assert append_records(uri, recs, source="billing.csv", ingested_at=T2) == 0
    assert _files(tmp_path / "labels") == files
    pd.testing.assert_frame_equal(read_records(uri), before)


def test_an_overlapping_export_adds_only_new_records(tmp_path):
    uri = str(tmp_path / "labels")
    append_records(uri, _records(tmp_path, "a,true,2025-01-31\n"), source="one.csv", ingested_at=T1)
    second = _records(tmp_path, "a,true,2025-01-31\nb,false,2025-02-01\n", name="two.csv")
    assert append_records(uri, second, source="two.csv", ingested_at=T2) == 1
    assert sorted(read_records(uri)["customer_id"]) == ["a", "b"]


def test_a_correction_takes_the_newest_and_reingesting_the_original_does_not_undo_it(tmp_path):
    uri = str(tmp_path / "labels")
    original = _records(tmp_path, "a,true,2025-01-31\nb,false,2025-01-31\n", name="jan.csv")
    corrected = _records(tmp_path, "a,false,2025-01-31\n", name="jan-fixed.csv")
    append_records(uri, original, source="jan.csv", ingested_at=T1)
    append_records(uri, corrected, source="jan-fixed.csv", ingested_at=T2)
    current = current_labels(read_records(uri)).set_index("customer_id")["churned"].to_dict()
    assert current == {"a": 0, "b": 0}
    # Same file again, a day later: nothing is added, so the correction still stands.
    assert append_records(uri, original, source="jan.csv", ingested_at=T2 + pd.Timedelta(days=1)) == 0
    assert current_labels(read_records(uri)).set_index("customer_id")["churned"].to_dict() == current


def test_current_labels_keeps_one_record_per_customer_and_day(tmp_path):
    records = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "churned": [1, 0, 1, 0],
            "known_at": pd.to_datetime(["2025-01-31", "2025-01-31", "2025-03-31", "2025-01-31"], utc=True),
            "ingested_at": [T2, T1, T1, T1],
            "source": ["x"] * 4,
            "line": [2, 2, 3, 4],
        }
    )
    current = current_labels(records)
    assert current[["customer_id", "churned"]].values.tolist() == [["a", 1], ["a", 1], ["b", 0]]
    assert current["known_at"].dt.strftime("%m-%d").tolist() == ["01-31", "03-31", "01-31"]


def test_new_records_is_an_anti_join_on_id_date_and_outcome(tmp_path):
    existing = _records(tmp_path, "a,true,2025-01-31\n")
    # The same customer and day with the other outcome is a new record (a correction), the same one is not.
    incoming = pd.concat([existing, existing.assign(churned=0)], ignore_index=True)
    fresh = new_records(existing, incoming)
    assert fresh["churned"].tolist() == [0]


def test_reading_a_missing_store_gives_an_empty_frame(tmp_path):
    frame = read_records(str(tmp_path / "nothing-here"))
    assert frame.empty and list(frame.columns) == [
        "customer_id",
        "churned",
        "known_at",
        "ingested_at",
        "source",
        "line",
    ]
