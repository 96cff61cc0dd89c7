"""Params and metrics: declared on tasks, recorded with each run, read back by --results."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from html.parser import HTMLParser
from pathlib import Path

import attrs
import pytest

from minimake.errors import TaskDefinitionError
from minimake.journal import Journal
from minimake.results import (
    Row,
    State,
    Trial,
    columns,
    order,
    params_changed,
    read_metrics,
    sort_key,
)
from minimake.task import Task
from minimake.view.results_page import page
from tests.conftest import cli, start, write_tasks

# A sweep over GRID (comma-separated alphas): one trial per alpha, writing its metrics; the
# alpha "bad" fails, "nojson" writes a metrics file that is not JSON, "nofile" writes none.
SWEEP = """\
import json
from minimake import task, phony, var

def train(alpha, path):
    if alpha == "bad":
        raise ValueError("diverged")
    if alpha == "nojson":
        open(path, "w").write("{oops")
        return
    with open(f"out-{alpha}.txt", "w") as file:
        file.write(alpha)
    if alpha != "nofile":
        metrics = {"val_score": 1 - float(alpha), "loss": float(alpha), "id": alpha}
        json.dump(metrics, open(path, "w"))

trials = []
for alpha in var("GRID", "0.1,0.2").split(","):
    target = f"out-{alpha}.txt" if alpha == "nofile" else f"m-{alpha}.json"
    task(target, recipe=train, args=(alpha, f"m-{alpha}.json"),
         params={"alpha": alpha, "model": {"kind": "ridge", "depth": 3}},
         metrics=f"m-{alpha}.json")
    trials.append(target)
task("plain.txt", recipe="echo plain > plain.txt")
phony("all", deps=[*trials, "plain.txt"], default=True)
"""


def results(folder: Path, *args: str) -> list[dict[str, str]]:
    """--results off a terminal, as one dict per row keyed by the header."""
    done = cli("--results", *args, cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    header, *lines = done.stdout.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    write_tasks(tmp_path, SWEEP)
    assert cli("-s", cwd=tmp_path).returncode == 0
    return tmp_path


def test_a_run_records_each_trial_and_the_table_shows_it(sweep: Path) -> None:
    rows = results(sweep)
    assert [row["task"] for row in rows] == ["m-0.2.json", "m-0.1.json"]  # newest first
    assert {row["state"] for row in rows} == {"up to date"}
    assert rows[1]["alpha"] == "0.1"
    assert rows[1]["val_score"] == "0.9"
    assert rows[1]["loss"] == "0.1"
    # Only the params that differ between rows; plain.txt, with neither, has no row.
    assert "model.kind" not in rows[0]
    assert "model.depth" not in rows[0]
    assert all(row["ended"] and row["duration"].endswith("s") for row in rows)
    everything = results(sweep, "--all-params")
    assert everything[0]["model.kind"] == "ridge"
    assert everything[0]["model.depth"] == "3"


def test_a_grown_grid_keeps_the_old_rows_and_adds_the_new(sweep: Path) -> None:
    assert cli("-s", "GRID=0.1,0.2,0.3", cwd=sweep).returncode == 0
    rows = results(sweep, "GRID=0.1,0.2,0.3")
    assert next(row["task"] for row in rows) == "m-0.3.json"
    assert {row["task"] for row in rows} == {"m-0.1.json", "m-0.2.json", "m-0.3.json"}
    assert rows[0]["val_score"] == "0.7"


def test_a_removed_configuration_shows_only_with_all(sweep: Path) -> None:
    assert [row["task"] for row in results(sweep, "GRID=0.1")] == ["m-0.1.json"]
    rows = results(sweep, "--results=all", "GRID=0.1")
    assert [(row["task"], row["state"]) for row in rows] == [
        ("m-0.1.json", "up to date"),
        ("m-0.2.json", "not declared"),
    ]
    assert rows[1]["val_score"] == "0.8"


def test_results_survive_a_clean_and_the_compaction_of_undeclared_tasks(sweep: Path) -> None:
    for path in sweep.glob("m-*.json"):
        path.unlink()
    journal = Journal(str(sweep), writable=True)
    journal.lines = 10**6  # as if the log had grown: compaction is due
    assert journal.compact(keep={"plain.txt"})
    journal.close()
    rows = results(sweep, "--results=all", "GRID=0.3")
    assert {(row["task"], row["state"]) for row in rows} == {
        ("m-0.3.json", "never run"),
        ("m-0.1.json", "not declared"),
        ("m-0.2.json", "not declared"),
    }
    assert cli("--forget-results", cwd=sweep).returncode == 0
    assert [row["task"] for row in results(sweep, "--results=all", "GRID=0.3")] == ["m-0.3.json"]


def test_a_failed_trial_says_so_and_has_no_metrics(tmp_path: Path) -> None:
    write_tasks(tmp_path, SWEEP)
    assert cli("-s", "-k", "GRID=0.1,bad", cwd=tmp_path).returncode == 2
    rows = {row["task"]: row for row in results(tmp_path, "GRID=0.1,bad")}
    assert rows["m-bad.json"]["state"] == "failed last run"
    assert rows["m-bad.json"]["val_score"] == ""
    assert rows["m-bad.json"]["loss"] == ""
    assert rows["m-0.1.json"]["state"] == "up to date"


HELD = """
from minimake import phony, task
phony("all", deps=["done.json", "t1.json", "t2.json"])
task("done.json", params={"i": 0}, metrics="done.json",
     recipe="echo '{\\"score\\": 1}' > done.json")
for i in (1, 2):
    task(f"t{i}.json", params={"i": i}, metrics=f"t{i}.json",
         recipe=f"echo started > up{i}.fifo; read x < go{i}.fifo; echo '{{}}' > t{i}.json")
"""


@pytest.mark.parametrize("stop", ["SIGINT", "SIGKILL"])
def test_running_and_stopped_trials_say_so(tmp_path: Path, stop: str) -> None:
    """While a sweep runs, --results beside it says which trials run now; once a signal
    stopped them (Ctrl-C, or kill -9 of minimake), that they were interrupted, not that they
    never ran. Recipes wait on FIFOs, so each state is seen while it holds."""
    write_tasks(tmp_path, HELD)
    for i in (1, 2):
        os.mkfifo(tmp_path / f"up{i}.fifo")
        os.mkfifo(tmp_path / f"go{i}.fifo")
    build = start("-j3", "-s", cwd=tmp_path)
    try:
        for i in (1, 2):
            assert (tmp_path / f"up{i}.fifo").read_text() == "started\n"
        rows = {row["task"]: row["state"] for row in results(tmp_path)}
        assert rows == {"done.json": "up to date", "t1.json": "running", "t2.json": "running"}
        os.kill(build.pid, getattr(signal, stop))
        build.communicate(timeout=60)
    finally:
        build.kill()
        for i in (1, 2):  # what kill -9 left waiting ends (each recipe has a session of its own)
            with contextlib.suppress(OSError):  # ENXIO: nobody waits any more
                os.close(os.open(tmp_path / f"go{i}.fifo", os.O_WRONLY | os.O_NONBLOCK))
    rows = {row["task"]: row for row in results(tmp_path)}
    assert rows["done.json"]["score"] == "1"
    for i in (1, 2):
        assert rows[f"t{i}.json"]["state"] == "interrupted last run"
        assert rows[f"t{i}.json"]["i"] == str(i)
    document = json.loads(cli("--results", "--json", cwd=tmp_path).stdout)
    assert {row["task"]: row["state"] for row in document["rows"]}["t1.json"] == "interrupted"


def test_a_missing_or_broken_metrics_file_is_a_warning_in_its_row(tmp_path: Path) -> None:
    write_tasks(tmp_path, SWEEP)
    assert cli("-s", "GRID=0.1,nojson,nofile", cwd=tmp_path).returncode == 0
    rows = {row["task"]: row for row in results(tmp_path, "GRID=0.1,nojson,nofile")}
    assert rows["m-nojson.json"]["note"] == "metrics file 'm-nojson.json': not JSON"
    assert rows["out-nofile.txt"]["note"] == "metrics file 'm-nofile.json' does not exist"
    assert rows["m-0.1.json"]["note"] == ""
    assert rows["m-nojson.json"]["state"] == "up to date"


def test_sort_orders_by_a_metric_in_its_direction(sweep: Path) -> None:
    assert cli("-s", "GRID=0.1,0.2,0.3", cwd=sweep).returncode == 0
    grid = "GRID=0.1,0.2,0.3"
    assert [r["alpha"] for r in results(sweep, "--sort", "val_score", grid)] == [
        "0.1",
        "0.2",
        "0.3",
    ]
    assert [r["alpha"] for r in results(sweep, "--sort", "loss", grid)] == ["0.1", "0.2", "0.3"]
    assert [r["alpha"] for r in results(sweep, "--sort=-loss", grid)] == ["0.3", "0.2", "0.1"]
    unknown = cli("--results", "--sort", "nope", grid, cwd=sweep)
    assert unknown.returncode == 2
    assert "No metric or param 'nope' to sort by" in unknown.stderr


def test_json_has_every_param_and_metric(sweep: Path) -> None:
    done = cli("--results", "--json", cwd=sweep)
    data = json.loads(done.stdout)
    assert data["columns"] == {"params": ["alpha"], "metrics": ["loss", "val_score"]}
    first = next(row for row in data["rows"] if row["task"] == "m-0.1.json")
    assert first["state"] == "up_to_date"
    assert first["params"] == {"alpha": "0.1", "model.depth": 3, "model.kind": "ridge"}
    assert first["metrics"] == {"loss": 0.1, "val_score": 0.9}


def test_goals_restrict_the_table_to_what_they_need(sweep: Path) -> None:
    assert [row["task"] for row in results(sweep, "m-0.1.json")] == ["m-0.1.json"]
    # `--results all`: the word is the goal all (only --results=all asks for every row).
    assert [row["task"] for row in results(sweep, "all", "GRID=0.1")] == ["m-0.1.json"]


def test_the_params_trigger_names_the_changed_key(tmp_path: Path) -> None:
    source = SWEEP.replace('"depth": 3', '"depth": int(var("DEPTH", "3"))')
    write_tasks(tmp_path, source)
    assert cli("-s", cwd=tmp_path).returncode == 0
    plain = cli("-n", "DEPTH=4", cwd=tmp_path)
    assert "0 would run" in plain.stderr
    assert "params:" not in plain.stdout
    dry = cli("-n", "--rerun-triggers", "mtime,params", "DEPTH=4", cwd=tmp_path)
    assert "params: model.depth 3 -> 4" in dry.stdout + dry.stderr
    explained = cli(
        "--explain", "m-0.1.json", "--rerun-triggers", "mtime,params", "DEPTH=4", cwd=tmp_path
    )
    assert "params: model.depth 3 -> 4" in explained.stdout
    rows = results(tmp_path, "--rerun-triggers", "mtime,params", "DEPTH=4")
    assert {row["state"] for row in rows} == {"stale"}


def test_a_run_with_new_params_that_failed_leaves_the_task_stale(tmp_path: Path) -> None:
    """The params trigger compares with the last run: one with the new params that failed
    without touching the target leaves the older run's target, which does not answer them."""
    write_tasks(
        tmp_path,
        """
        from minimake import task, var
        P = var("P", "1")
        task("out.txt", recipe=f"test {P} = 1 || exit 1; echo {P} > out.txt", params={"p": P},
             rerun_triggers="mtime,params")
        """,
    )
    assert cli("-s", cwd=tmp_path).returncode == 0
    assert cli("-s", "P=2", cwd=tmp_path).returncode == 2
    assert (tmp_path / "out.txt").read_text() == "1\n"  # untouched: not deleted
    dry = cli("-n", "P=2", cwd=tmp_path)
    assert "would run out.txt: params: the last run with them failed" in dry.stderr


def test_how_an_unsettled_trial_ended() -> None:
    trial = Trial("a", "succeeded", 1.0, 0.0)
    assert trial.unsettled is None
    assert attrs.evolve(trial, status="failed").unsettled == "failed"
    assert attrs.evolve(trial, status="interrupted").unsettled == "was interrupted"


def test_a_tasks_own_params_trigger() -> None:
    declared = Task.create("a", recipe="true", params={"x": 1}, rerun_triggers="mtime,params")
    assert declared.rerun_triggers == ("mtime", "params")


# --- the pure parts


def test_params_are_flattened_sorted_and_checked() -> None:
    declared = Task.create("a", recipe="true", params={"b": [1, [2]], "a": {"c": None}})
    assert declared.params == (("a.c", None), ("b", (1, (2,))))
    hash(declared)
    assert Task.create("a", recipe="true").params == ()
    with pytest.raises(TaskDefinitionError, match="must be a JSON value"):
        Task.create("a", recipe="true", params={"x": object()})
    with pytest.raises(TaskDefinitionError, match="must name a JSON file"):
        Task.create("a", recipe="true", metrics="")


def test_params_changed_says_what_and_how() -> None:
    assert params_changed((("alpha", 0.001),), (("alpha", 0.01),)) == "params: alpha 0.001 -> 0.01"
    assert params_changed((("a", 1),), (("a", 1),)) is None
    assert params_changed((("a", 1),), (("a", 1.0),)) == "params: a 1 -> 1.0"
    assert params_changed((), (("b", "x"),)) == 'params: b added ("x")'
    assert params_changed((("b", (1, 2)),), ()) == "params: b [1, 2] removed"


def test_read_metrics_keeps_the_numbers(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"acc": 0.5, "n": 3, "ok": True, "id": "x", "sub": {"f1": 1}}))
    assert read_metrics(str(path)) == ((("acc", 0.5), ("n", 3)), None)
    path.write_text("[1]")
    assert read_metrics(str(path)) == ((), f"metrics file '{path}' holds no JSON object")


def test_a_trial_survives_its_journal_form() -> None:
    trial = Trial("t", "failed", 1.5, 100.0, (("a", (1, (2,))), ("b", None)), (), "w")
    assert Trial.loads("t", trial.dumps()) == trial
    assert Trial.loads("t", "{not json") is None


def test_columns_leave_out_the_params_that_never_change() -> None:
    rows = [
        Row("a", State.UP_TO_DATE, (("x", 1), ("y", 2)), (("acc", 0.5),)),
        Row("b", State.UP_TO_DATE, (("x", 1), ("y", 3)), (("loss", 0.1),)),
    ]
    assert columns(rows) == (["y"], ["acc", "loss"])
    assert columns(rows, only_changed=False) == (["x", "y"], ["acc", "loss"])
    assert columns(rows[:1]) == (["x", "y"], ["acc"])


def test_order_puts_declared_rows_first_and_missing_values_last() -> None:
    rows = [
        Row("gone", State.GONE, (), (("acc", 0.9),), ended=3.0),
        Row("low", State.UP_TO_DATE, (), (("acc", 0.1),), ended=1.0),
        Row("none", State.NEVER_RUN, ()),
        Row("high", State.STALE, (), (("acc", 0.7),), ended=2.0),
    ]
    assert [row.name for row in order(rows, "acc")] == ["high", "low", "none", "gone"]
    assert [row.name for row in order(rows, None)] == ["high", "low", "none", "gone"]
    assert [row.name for row in order(rows, "+acc")] == ["low", "high", "none", "gone"]
    assert sort_key("loss") == ("loss", False)
    assert sort_key("val_accuracy") == (
        "val_accuracy",
        True,
    )


class _Page(HTMLParser):
    """What a page refers to outside itself, its table's first cells, and its points."""

    def __init__(self) -> None:
        super().__init__()
        self.outside: list[str] = []
        self.cells: list[str] = []
        self.points = self.crosses = 0
        self._first = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "img", "iframe", "object"):
            self.outside.append(tag)
        self.outside += [f"{n}={v}" for n, v in attrs if n in ("src", "href") and v]
        self.points += tag == "circle"
        self.crosses += tag == "g" and ("class", "miss") in attrs
        self._first = self._first or tag == "tr"
        if tag == "td" and self._first:
            self._first = False
            self.cells.append("")

    def handle_data(self, data: str) -> None:
        if self.cells and self.cells[-1] == "" and self.lasttag == "td":
            self.cells[-1] = data


def test_the_results_page_stands_alone_and_shows_every_trial(tmp_path: Path) -> None:
    write_tasks(tmp_path, SWEEP)
    grid = "GRID=0.1,0.2,0.3,bad,0.02"
    cli("-s", "-k", grid, cwd=tmp_path)
    done = cli("--results-page", "page.html", "--sort", "loss", grid, cwd=tmp_path)
    assert done.returncode == 0
    assert "Results page saved to page.html" in done.stderr
    parsed = _Page()
    parsed.feed((tmp_path / "page.html").read_text())
    assert parsed.outside == []
    assert sorted(parsed.cells) == sorted(
        ["m-0.1.json", "m-0.2.json", "m-0.3.json", "m-bad.json", "m-0.02.json"]
    )
    # alpha is a string in SWEEP; model.depth is one value: no numeric param to chart.
    assert parsed.points == 0


def test_the_page_charts_the_metric_against_each_numeric_param() -> None:
    rows = [
        Row(f"t{n}", State.UP_TO_DATE, (("lr", 10.0**-n), ("k", "a")), (("acc", n / 10),))
        for n in range(1, 5)
    ]
    rows.append(Row("t9", State.FAILED, (("lr", 0.5), ("k", "b"))))
    rows.append(Row("t8", State.INTERRUPTED, (("lr", 0.25), ("k", "b"))))
    parsed = _Page()
    text = page(rows, ["k", "lr"], ["acc"], None)
    parsed.feed(text)
    assert parsed.outside == []
    assert parsed.points == 4
    assert parsed.crosses == 2
    assert sorted(parsed.cells) == ["t1", "t2", "t3", "t4", "t8", "t9"]
    assert "6 (1 failed last run, 1 interrupted)" in text
