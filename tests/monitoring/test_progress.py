"""One progress policy for every job: in a log, one line per 10 %; on a terminal, redrawn in place."""

from __future__ import annotations

import io

from monitoring.progress import ItemProgress, RowProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_item_progress_prints_at_most_one_line_per_decile() -> None:
    log = io.StringIO()
    bar = ItemProgress(200, "core", log)
    for i in range(200):
        bar.advance("pass" if i % 4 else "fail")
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 11  # the first item, then 10 %, 20 %, … 100 %
    assert lines[-1].startswith("core [" + "#" * 30 + "] 200/200 pass 150 fail 50")


def test_row_progress_in_a_log_and_on_a_terminal() -> None:
    log = io.StringIO()
    progress = RowProgress("reading", log)
    for done in range(0, 1_000_001, 50_000):
        progress(done, 1_000_000)
    assert log.getvalue().splitlines()[-1] == "reading: 1,000,000/1,000,000 rows (100%)"
    assert len(log.getvalue().splitlines()) == 11  # 0 %, 10 %, … 100 %
    tty = _Terminal()
    progress = RowProgress("reading", tty, min_interval=0.0)
    progress(5, 10)
    progress(10, 10)
    assert tty.getvalue() == "\rreading: 5/10 rows (50%)\rreading: 10/10 rows (100%)\n"


def test_a_terminal_line_cut_short_still_ends_with_a_newline() -> None:
    tty = _Terminal()
    bar = ItemProgress(10, "x", tty, min_interval=0.0)
    bar.advance("pass")
    bar.close()
    assert tty.getvalue().endswith("\n") and tty.getvalue().count("\n") == 1
