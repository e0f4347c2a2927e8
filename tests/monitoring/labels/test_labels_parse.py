"""Billing exports: column mapping, outcome spellings, dates, and bad rows reported with their lines."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring.labels.parse import LabelColumns, LabelFileError, parse_labels, read_export


def _write(tmp_path, text: str, name: str = "billing.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_columns_and_outcome_spellings(tmp_path):
    path = _write(
        tmp_path,
        "customer_id,churned,known_at\n"
        "a,true,2025-01-31\n"
        "b,FALSE,2025-01-31\n"
        "c, Yes ,2025-02-01T10:00:00Z\n"
        "d,no,2025-02-01\n"
        "e,1,2025-02-02\n"
        "f,0.0,2025-02-02\n",
    )
    parsed = parse_labels(read_export(path), LabelColumns())
    assert parsed.bad == []
    got = dict(zip(parsed.records["customer_id"], parsed.records["churned"], strict=True))
    assert got == {"a": 1, "b": 0, "c": 1, "d": 0, "e": 1, "f": 0}
    known = parsed.records.set_index("customer_id")["known_at"]
    assert known["c"] == pd.Timestamp("2025-02-01T10:00:00Z")
    assert str(parsed.records["known_at"].dtype) == "datetime64[us, UTC]"


def test_bad_rows_are_reported_with_line_numbers_and_skipped(tmp_path):
    # Line 1 is the header; line 4 is blank and lines 6-7 are one record (a quoted newline).
    path = _write(
        tmp_path,
        "customer_id,churned,known_at\n"
        "a,true,2025-01-31\n"
        ",false,2025-01-31\n"
        "\n"
        "b,maybe,2025-01-31\n"
        '"c\nd",yes,2025-01-31\n'
        "e,no,31/01/2025\n"
        "f,no,2025-02-30\n"
        "g,yes,2025-02-01\n",
    )
    parsed = parse_labels(read_export(path), LabelColumns())
    assert sorted(parsed.records["customer_id"]) == ["a", "c\nd", "g"]
    assert [(b.line, b.reason) for b in parsed.bad] == [
        (3, "missing customer_id"),
        (5, "unknown churned value"),
        (8, "unparsable known_at date"),
        (9, "unparsable known_at date"),
    ]
    assert parsed.bad_counts() == {
        "missing customer_id": 1,
        "unknown churned value": 1,
        "unparsable known_at date": 2,
    }
    assert parsed.bad_summary() == [
        "1 row missing customer_id (lines 3)",
        "1 row unknown churned value (lines 5)",
        "2 rows unparsable known_at date (lines 8, 9)",
    ]
    assert parsed.records.set_index("customer_id")["line"].to_dict() == {"a": 2, "c\nd": 6, "g": 10}


def test_bad_summary_truncates_long_lists(tmp_path):
    body = "".join(f"x{i},perhaps,2025-01-01\n" for i in range(15))
    parsed = parse_labels(
        read_export(_write(tmp_path, "customer_id,churned,known_at\n" + body)), LabelColumns()
    )
    (line,) = parsed.bad_summary(max_lines=3)
    assert line == "15 rows unknown churned value (lines 2, 3, 4 +12 more)"


def test_mapped_columns_and_bom(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffcust;status;closed_on\n42;Yes;2025-03-01\n".encode())
    columns = LabelColumns(customer_id="cust", churned="status", known_at="closed_on")
    parsed = parse_labels(read_export(path, delimiter=";"), columns)
    assert parsed.records[["customer_id", "churned"]].values.tolist() == [["42", 1]]


def test_missing_columns_is_one_clear_error(tmp_path):
    path = _write(tmp_path, "id,churned,date\n1,true,2025-01-01\n")
    with pytest.raises(LabelFileError) as err:
        parse_labels(read_export(path), LabelColumns())
    message = str(err.value)
    assert "customer_id, known_at" in message and "found: id, churned, date" in message
    assert "\n" not in message


def test_unreadable_inputs(tmp_path):
    with pytest.raises(LabelFileError, match="no such file"):
        read_export(tmp_path / "nope.csv")
    with pytest.raises(LabelFileError, match=r"expected a \.csv or \.parquet"):
        read_export(_write(tmp_path, "x", name="billing.xlsx"))
    with pytest.raises(LabelFileError, match="empty"):
        read_export(_write(tmp_path, ""))
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("customer_id,churned,known_at\n\xe9,true,2025-01-01\n".encode("latin-1"))
    with pytest.raises(LabelFileError, match="not UTF-8"):
        read_export(bad)
    with pytest.raises(LabelFileError, match="not a readable Parquet"):
        read_export(_write(tmp_path, "not parquet", name="x.parquet"))


def test_parquet_with_native_types(tmp_path):
    path = tmp_path / "billing.parquet"
    table = pa.table(
        {
            "customer_id": ["a", "b", None],
            "churned": [True, False, True],
            "known_at": pa.array(
                [dt.date(2025, 1, 31), dt.date(2025, 2, 1), dt.date(2025, 2, 2)], pa.date32()
            ),
        }
    )
    pq.write_table(table, path)
    parsed = parse_labels(read_export(path), LabelColumns())
    assert parsed.records[["customer_id", "churned"]].values.tolist() == [["a", 1], ["b", 0]]
    assert parsed.records["known_at"].tolist() == [
        pd.Timestamp("2025-01-31", tz="UTC"),
        pd.Timestamp("2025-02-01", tz="UTC"),
    ]
    assert [(b.line, b.reason) for b in parsed.bad] == [(3, "missing customer_id")]
    assert parsed.bad_summary() == ["1 row missing customer_id (rows 3)"]


def test_a_later_row_corrects_an_earlier_one_in_the_same_file(tmp_path):
    path = _write(
        tmp_path,
        "customer_id,churned,known_at\na,true,2025-01-31\na,false,2025-01-31\na,false,2025-01-31\n",
    )
    parsed = parse_labels(read_export(path), LabelColumns())
    assert parsed.records[["customer_id", "churned", "line"]].values.tolist() == [["a", 0, 4]]
