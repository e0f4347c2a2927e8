"""`modelgate schedule`: the cron parser, next fire times, the job table, and real subprocess launches."""

import logging
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
import yaml

from monitoring.schedule import (
    CronError,
    Job,
    Scheduler,
    job_argv,
    main,
    next_fire,
    parse_cron,
    parse_schedule,
)


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


class TestParse:
    def test_star_and_steps(self):
        spec = parse_cron("*/15 * * * *")
        assert spec.minutes == {0, 15, 30, 45}
        assert spec.hours == set(range(24)) and spec.months == set(range(1, 13))
        assert spec.weekdays == set(range(7))

    def test_ranges_lists_and_ranged_steps(self):
        spec = parse_cron("0,30 9-17/2 1,15 1-3,12 1-5")
        assert spec.minutes == {0, 30}
        assert spec.hours == {9, 11, 13, 15, 17}
        assert spec.days == {1, 15}
        assert spec.months == {1, 2, 3, 12}
        assert spec.weekdays == {1, 2, 3, 4, 5}

    def test_value_with_step_runs_to_the_end(self):
        assert parse_cron("50/5 * * * *").minutes == {50, 55}

    def test_names_and_sunday_as_7(self):
        spec = parse_cron("0 0 * jan,JUL sun,7,sat")
        assert spec.months == {1, 7}
        assert spec.weekdays == {0, 6}

    @pytest.mark.parametrize(
        ("macro", "line"), [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0")]
    )
    def test_macros(self, macro, line):
        spec, plain = parse_cron(macro), parse_cron(line)
        assert (spec.minutes, spec.hours, spec.days, spec.weekdays) == (
            plain.minutes,
            plain.hours,
            plain.days,
            plain.weekdays,
        )

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ("* * * *", "needs 5 fields"),
            ("* * * * * *", "needs 5 fields"),
            ("60 * * * *", "minute: '60' is not valid"),
            ("* 24 * * *", "hour: '24'"),
            ("* * 0 * *", "day of month: '0'"),
            ("* * * 13 *", "month: '13'"),
            ("* * * * 8", "day of week: '8'"),
            ("*/0 * * * *", "minute: '\\*/0'"),
            ("a * * * *", "minute: 'a' is not valid"),
            ("* * * foo *", "month: 'foo' is not valid"),
        ],
    )
    def test_bad_lines(self, line, message):
        with pytest.raises(CronError, match=message):
            parse_cron(line)


class TestNextFire:
    @pytest.mark.parametrize(
        ("line", "after", "expected"),
        [
            ("0 * * * *", "2026-03-10 10:30", "2026-03-10 11:00"),
            ("0 * * * *", "2026-03-10 10:00", "2026-03-10 11:00"),  # strictly after
            ("*/15 * * * *", "2026-03-10 10:46", "2026-03-10 11:00"),
            ("30 3 * * *", "2026-03-10 04:00", "2026-03-11 03:30"),
            ("0 0 1 1 *", "2026-12-31 23:59", "2027-01-01 00:00"),
            ("0 9 * * 1-5", "2026-03-13 10:00", "2026-03-16 09:00"),  # Friday → Monday
            ("0 0 31 * *", "2026-04-01 00:00", "2026-05-31 00:00"),  # April has no 31st
            ("0 0 29 2 *", "2025-01-01 00:00", "2028-02-29 00:00"),
            ("59 23 * * *", "2026-12-31 23:58", "2026-12-31 23:59"),
        ],
    )
    def test_known_times(self, line, after, expected):
        assert next_fire(parse_cron(line), at(after)) == at(expected)

    def test_restricted_day_fields_match_either(self):
        # Vixie cron: "on the 13th OR on Fridays".
        spec = parse_cron("0 0 13 * 5")
        assert next_fire(spec, at("2026-03-01 00:00")) == at("2026-03-06 00:00")  # a Friday, not the 13th
        assert next_fire(spec, at("2026-03-10 00:00")) == at("2026-03-13 00:00")  # the 13th (also a Friday)
        assert next_fire(spec, at("2026-04-10 00:00")) == at("2026-04-13 00:00")  # a Monday the 13th
        # With one field a star, both must hold: only Fridays.
        assert next_fire(parse_cron("0 0 * * 5"), at("2026-04-10 00:00")) == at("2026-04-17 00:00")

    def test_matches(self):
        spec = parse_cron("15 10 * * *")
        assert spec.matches(at("2026-03-10 10:15")) and not spec.matches(at("2026-03-10 10:16"))

    def test_impossible_line_never_fires(self):
        with pytest.raises(CronError, match="never fires"):
            next_fire(parse_cron("0 0 30 2 *"), at("2026-01-01 00:00"))


class TestScheduleSection:
    def test_jobs(self):
        jobs = parse_schedule(
            {
                "drift": {"cron": "0 * * * *", "command": ["drift", "data"]},
                "evals": {"cron": "@daily", "command": "eval run core"},
            }
        )
        assert [(j.name, j.command) for j in jobs] == [
            ("drift", ("drift", "data")),
            ("evals", ("eval", "run", "core")),
        ]

    @pytest.mark.parametrize(
        ("section", "message"),
        [
            ({"x": "0 * * * *"}, "schedule.x must be a mapping"),
            ({"x": {"command": ["drift"]}}, "schedule.x.cron must be"),
            ({"x": {"cron": "0 * * * *"}}, "schedule.x.command must be"),
            ({"x": {"cron": "0 * * * *", "command": [1]}}, "schedule.x.command must be"),
            ({"x": {"cron": "0 * * *", "command": ["drift"]}}, "schedule.x.cron: .*5 fields"),
            ({"x": {"cron": "0 0 30 2 *", "command": ["drift"]}}, "never fires"),
            ({"x": {"cron": "@daily", "command": ["modelgate", "drift"]}}, "subcommand only"),
            ({"x": {"cron": "@daily", "command": ["drift", "--config", "a.yaml"]}}, "--config are added"),
            ({"x": {"cron": "@daily", "command": ["drift"], "when": 1}}, "unknown key 'when'"),
        ],
    )
    def test_bad_sections(self, section, message):
        with pytest.raises(CronError, match=message):
            parse_schedule(section)

    def test_job_argv_runs_modelgate_with_the_same_config(self, tmp_path):
        job = Job("d", parse_cron("@daily"), ("drift", "data"))
        argv = job_argv(job, tmp_path / "mg.yaml")
        assert argv == [
            sys.executable,
            "-m",
            "gateway.cli",
            "drift",
            "data",
            "--config",
            str(tmp_path / "mg.yaml"),
        ]


def marker_argv(tmp_path, code=0, sleep=0.0):
    """A stand-in job: a real subprocess that appends its job name to a file and exits with `code`."""

    def make(job, config_path):
        script = (
            f"import time, sys; time.sleep({sleep}); "
            f"open({str(tmp_path / 'ran.txt')!r}, 'a').write({job.name!r} + ' ' + sys.argv[1] + '\\n'); "
            f"sys.exit({code})"
        )
        return [sys.executable, "-c", script, str(config_path)]

    return make


def wait_reaped(scheduler, timeout=20):
    deadline = time.monotonic() + timeout
    while scheduler.running and time.monotonic() < deadline:
        time.sleep(0.02)
        scheduler.reap()
    assert not scheduler.running


class TestScheduler:
    def test_tick_launches_due_jobs_once_and_logs_exit_codes(self, tmp_path, caplog):
        caplog.set_level(logging.INFO, logger="modelgate.schedule")
        jobs = [Job("hourly", parse_cron("0 * * * *"), ("x",)), Job("daily", parse_cron("0 0 * * *"), ("y",))]
        sched = Scheduler(jobs, tmp_path / "mg.yaml", make_argv=marker_argv(tmp_path, code=1))
        sched.start(at("2026-03-10 22:30"))
        assert sched.tick(at("2026-03-10 22:59")) == []
        assert sched.tick(at("2026-03-10 23:00")) == ["hourly"]
        wait_reaped(sched)
        assert sched.tick(at("2026-03-10 23:00")) == []  # not twice in the same minute
        assert sorted(sched.tick(at("2026-03-11 00:00"))) == ["daily", "hourly"]
        wait_reaped(sched)
        ran = (tmp_path / "ran.txt").read_text().splitlines()
        assert sorted(ran) == sorted(
            [f"hourly {tmp_path / 'mg.yaml'}"] * 2 + [f"daily {tmp_path / 'mg.yaml'}"]
        )
        assert sched.exit_codes == {"hourly": [1, 1], "daily": [1]}
        assert "job hourly exited 1" in caplog.text

    def test_a_job_still_running_is_skipped_not_doubled(self, tmp_path, caplog):
        caplog.set_level(logging.INFO, logger="modelgate.schedule")
        sched = Scheduler(
            [Job("slow", parse_cron("* * * * *"), ("x",))],
            tmp_path / "c",
            make_argv=marker_argv(tmp_path, sleep=5),
        )
        sched.start(at("2026-03-10 10:00"))
        assert sched.tick(at("2026-03-10 10:01")) == ["slow"]
        assert sched.tick(at("2026-03-10 10:02")) == []
        assert "job slow skipped: its previous run is still going" in caplog.text
        sched.stop(grace_s=5)  # terminates the running job
        assert not sched.running
        assert sched.exit_codes["slow"] != [0]

    def test_run_loop_stops_on_the_event(self, tmp_path):
        clock_times = iter([at("2026-03-10 10:00")] + [at("2026-03-10 10:01")] * 1000)
        sched = Scheduler(
            [Job("j", parse_cron("* * * * *"), ("x",))], tmp_path / "c", make_argv=marker_argv(tmp_path)
        )
        stop = threading.Event()
        thread = threading.Thread(target=sched.run, args=(stop, lambda: next(clock_times)))
        thread.start()
        deadline = time.monotonic() + 20
        while not (tmp_path / "ran.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        thread.join(10)
        assert not thread.is_alive()
        assert (tmp_path / "ran.txt").read_text().startswith("j ")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "modelgate.yaml"
    schedule = {
        "history": {"cron": "*/5 * * * *", "command": ["eval", "history"]},
        "broken": {"cron": "@daily", "command": ["eval", "run", "no-such-suite", "--model", "m"]},
    }
    path.write_text(yaml.safe_dump({"data_dir": "data", "schedule": schedule}))
    return path


def test_dry_run_prints_commands_and_next_times(config, capsys):
    assert main(["--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"history: '*/5 * * * *' → modelgate eval history --config {config.resolve()}" in out
    assert out.count("next (UTC):") == 2


@pytest.mark.integration
def test_once_runs_the_real_command_and_returns_its_exit_code(config, capsys):
    assert main(["--config", str(config), "--once", "history"]) == 0
    assert main(["--config", str(config), "--once", "broken"]) == 2  # the eval job's own exit code


@pytest.mark.parametrize(
    ("args", "yaml_body", "message"),
    [
        (
            ["--once", "nope"],
            {"schedule": {"a": {"cron": "@daily", "command": ["eval", "history"]}}},
            "no job 'nope'",
        ),
        ([], {"schedule": {}}, "lists no jobs"),
        ([], {"schedule": {"a": {"cron": "99 * * * *", "command": ["x"]}}}, "minute: '99' is not valid"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, yaml_body, message):
    path = tmp_path / "modelgate.yaml"
    path.write_text(yaml.safe_dump(yaml_body))
    assert main(["--config", str(path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_missing_config_exits_2(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "none.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_the_documented_schedule_and_cronjobs_are_valid():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "schedule.md").read_text()
    blocks = text.split("```yaml\n")[1:]
    section = yaml.safe_load(blocks[0].split("```")[0])["schedule"]
    jobs = {j.name: j for j in parse_schedule(section)}
    cronjobs = list(yaml.safe_load_all(blocks[1].split("```")[0]))
    assert {c["kind"] for c in cronjobs} == {"CronJob"}
    for cronjob in cronjobs:
        parse_cron(cronjob["spec"]["schedule"])
        container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        command = container["command"]
        assert command[0] == "modelgate" and command[-2] == "--config"
        # Every CronJob runs a command the embedded scheduler also runs, on the same cron line.
        same = [j for j in jobs.values() if tuple(command[1:-2]) == j.command]
        assert same and same[0].cron.expr == cronjob["spec"]["schedule"]
