"""--timings and --trace: the recorded run, its readings, the page and the trace.

Most tests replay a known build into a Recorder with a fake clock, so every time is exact.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from minimake.engine import build
from minimake.events import Tee
from minimake.record import Run, Span
from minimake.result import BuildResult, Outcome, Status, TaskResult
from minimake.task import Task
from minimake.uptodate import Reason, ReasonKind
from minimake.view.chrome_trace import trace_events, write_trace
from minimake.view.recorder import Recorder
from minimake.view.timings import concurrency, critical_path, lanes
from minimake.view.timings_page import LATEST, TABLE_ROWS, page, save
from minimake.view.timings_svg import BAR_BUDGET, short_names
from tests.conftest import RecordingReporter, cli


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0  # any origin: the run counts from begin()

    def __call__(self) -> float:
        return self.now


BEGAN = datetime(2026, 1, 2, 3, 4, 5)

# Given -j2 and this graph, the build below goes:
#   data  up to date at 0
#   prep  0-1
#   fit1  1-4, fit2 1-6 (both ready at 1), fit3 ready at 1 but no slot until 4: 4-5.5
#   report 6-7, then the alias `all` at 7.
DEPS = {
    "data": [],
    "prep": ["data"],
    "fit1": ["prep"],
    "fit2": ["prep"],
    "fit3": ["prep"],
    "report": ["fit1", "fit2", "fit3"],
    "all": ["report"],
}
RECIPES = {"prep", "fit1", "fit2", "fit3", "report"}


def recorded_run(*, fail: str | None = None, worker_of: dict[str, str] | None = None) -> Run:
    """Replay the build above through a Recorder, as the engine would call it."""
    clock = FakeClock()
    recorder = Recorder(DEPS, "process", clock, now=lambda: BEGAN)
    results: dict[str, TaskResult] = {}
    running: dict[str, float] = {}

    def at(moment: float) -> None:
        clock.now = 100.0 + moment

    def start(name: str, moment: float) -> None:
        at(moment)
        running[name] = moment
        recorder.started(Task(name, recipe="true"), Reason(ReasonKind.MISSING, name), [])

    def finish(name: str, moment: float) -> None:
        at(moment)
        ok = name != fail
        outcome = Outcome(ok=ok, returncode=0 if ok else 2, worker=(worker_of or {}).get(name))
        status = Status.RAN if ok else Status.FAILED
        result = TaskResult(
            name, status, Reason(ReasonKind.MISSING, name), moment - running[name], outcome
        )
        recorder.finished(Task(name, recipe="true"), result, ignored=False)
        decide(result, moment)

    def decide(result: TaskResult, moment: float) -> None:
        at(moment)
        results[result.name] = result
        recorder.recorded(result)

    at(0)
    recorder.begin(len(DEPS), 2)
    decide(TaskResult("data", Status.UP_TO_DATE), 0)
    start("prep", 0)
    finish("prep", 1)
    start("fit1", 1)
    start("fit2", 1)
    finish("fit1", 4)
    start("fit3", 4)
    finish("fit3", 5.5)
    finish("fit2", 6)
    start("report", 6)
    finish("report", 7)
    remade = Reason(ReasonKind.REMADE, "report", "all")
    decide(TaskResult("all", Status.RAN, remade, has_recipe=False), 7)
    at(7.25)
    recorder.summary(BuildResult(results, ("all",), 7.25))
    assert recorder.run is not None
    return recorder.run


class TestRecordedRun:
    def test_every_task_is_recorded_with_its_times(self) -> None:
        run = recorded_run()
        spans = run.by_name()
        assert set(spans) == set(DEPS)
        assert {name for name, span in spans.items() if span.ran} == RECIPES
        assert (spans["fit3"].start, spans["fit3"].end) == (4, 5.5)
        assert spans["all"].start == spans["all"].end == 7
        assert run.seconds == 7.25
        assert run.task_seconds == 1 + 3 + 5 + 1.5 + 1

    def test_ready_is_when_the_last_dep_was_decided(self) -> None:
        spans = recorded_run().by_name()
        assert spans["fit3"].ready == 1
        assert spans["fit3"].waited == 3
        assert spans["report"].ready == 6
        assert spans["report"].waited == 0

    def test_critical_path_is_the_chain_that_set_the_wall_time(self) -> None:
        assert critical_path(recorded_run()) == ("prep", "fit2", "report")

    def test_critical_path_goes_through_the_recipe_that_freed_a_slot(self) -> None:
        # Given -j2: a 0-2 and b 0-3 run; c, ready at 0, starts when a frees its slot; d needs c.
        spans = (
            Span("a", Status.RAN, 0, 2, ran=True),
            Span("b", Status.RAN, 0, 3, ran=True),
            Span("c", Status.RAN, 2, 6, ready=0, ran=True),
            Span("d", Status.RAN, 6, 7, ready=6, ran=True, deps=("c",)),
        )
        run = Run(("d",), 2, "process", BEGAN, 7, spans)
        assert critical_path(run) == ("a", "c", "d")

    def test_lanes_reuse_a_freed_slot(self) -> None:
        labels, lane_of = lanes(recorded_run())
        assert labels == ("slot 1", "slot 2")
        assert lane_of["fit3"] == lane_of["fit1"] != lane_of["fit2"]
        assert set(lane_of) == RECIPES

    def test_dask_workers_are_lanes(self) -> None:
        workers = {"prep": "0", "fit1": "0", "fit2": "tcp://10.0.0.2:4000", "fit3": "0"}
        labels, lane_of = lanes(recorded_run(worker_of={**workers, "report": "0"}))
        assert labels == ("worker 0", "tcp://10.0.0.2:4000")
        assert lane_of["fit2"] == 1
        assert lane_of["fit3"] == lane_of["report"] == 0

    def test_a_worker_running_two_at_once_gets_two_lanes(self) -> None:
        labels, _ = lanes(recorded_run(worker_of=dict.fromkeys(RECIPES, "w")))
        assert labels == ("w #1", "w #2")

    def test_concurrency_counts_running_and_ready_but_waiting(self) -> None:
        steps = {step.time: (step.running, step.waiting) for step in concurrency(recorded_run())}
        assert steps[1] == (2, 1)  # fit1, fit2 run; fit3 is ready, with no slot
        assert steps[4] == (2, 0)
        assert steps[5.5] == (1, 0)
        assert steps[7] == (0, 0)

    def test_a_failure_and_its_exit_status_are_kept(self) -> None:
        span = recorded_run(fail="fit2").by_name()["fit2"]
        assert span.status is Status.FAILED
        assert span.returncode == 2

    def test_a_task_stopped_by_an_interrupt_ends_then(self) -> None:
        clock = FakeClock()
        recorder = Recorder({"slow": []}, "process", clock)
        recorder.begin(1, 1)
        recorder.started(Task("slow", recipe="sleep 9"), Reason(ReasonKind.MISSING, "slow"), [])
        clock.now += 2
        recorder.interrupted(Task("slow", recipe="sleep 9"))
        failed = TaskResult("slow", Status.FAILED, "'slow' does not exist", error="interrupted")
        clock.now += 0.5
        recorder.summary(BuildResult({"slow": failed}, ("slow",), 2.5, interrupted=True))
        assert recorder.run is not None
        span = recorder.run.by_name()["slow"]
        assert (span.start, span.end, span.error) == (0, 2, "interrupted")
        assert recorder.run.interrupted


class Page(HTMLParser):
    """Reads the page back: its tags, the tooltips, and whether it nests correctly."""

    VOID = frozenset({"meta", "br"})  # HTML elements with no end tag

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.open: list[str] = []
        self.titles: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "title" and "svg" in self.open:
            self.titles.append(data)
        self.text.append(data)


def parsed(html: str) -> Page:
    reader = Page()
    reader.feed(html)
    reader.close()
    assert reader.open == [], reader.open
    return reader


class TestPage:
    def test_page_parses_and_shows_every_task(self) -> None:
        reader = parsed(page(recorded_run()))
        assert reader.tags.count("svg") == 2
        tips = "\n".join(reader.titles)
        for name in RECIPES:
            assert f"{name}\n" in tips  # each bar's tooltip starts with its task's name
        assert "'fit3' does not exist" in tips  # why it ran
        assert "exit 0" in tips
        text = "".join(reader.text)
        assert "prep (1.0s) → fit2 (5.0s) → report (1.0s)" in text
        assert "5 ran, 1 up to date" in text

    def test_page_loads_nothing_from_anywhere(self) -> None:
        html = page(recorded_run()).lower()
        for reference in ("http", "src=", "@import", "url(", "<script", "<link"):
            assert reference not in html

    def test_names_are_escaped(self) -> None:
        run = recorded_run()
        odd = Span('<b>&"x"', Status.RAN, 0, 7, ran=True, reason="<i>")
        html = page(Run(run.goals, 2, "thread", BEGAN, 7.25, (*run.spans, odd)))
        assert "<b>" not in html
        assert "&lt;b&gt;&amp;&quot;x&quot;" in html
        parsed(html)

    def test_bars_are_labelled_by_what_tells_tasks_apart(self) -> None:
        names = ["dist/trained/a1/metrics.json", "dist/trained/b2/metrics.json", "dist/x.csv"]
        assert list(short_names(names).values()) == ["a1/metrics.json", "b2/metrics.json", "x.csv"]
        assert short_names(["a/b", "b"]) == {"a/b": "a/b", "b": "b"}

    def test_light_and_dark(self) -> None:
        assert "@media (prefers-color-scheme:dark)" in page(recorded_run())

    def test_save_writes_the_dated_page_and_the_latest_copy(self, tmp_path: Path) -> None:
        path = save(recorded_run(), str(tmp_path / "t"))
        assert Path(path).name == "minimake-timing-20260102T030405.html"
        assert Path(path).read_text() == (tmp_path / "t" / LATEST).read_text()


def big_run(count: int = 10_000, jobs: int = 16, seed: int = 1) -> Run:
    """A synthetic recorded run: ``count`` tasks in layers, list-scheduled on ``jobs`` slots."""
    rng = random.Random(seed)
    free = [0.0] * jobs
    spans: list[Span] = []
    ends: dict[str, float] = {}
    for index in range(count):
        name = f"layer{index // 500}/task{index:05d}"
        deps = tuple(f"layer{d // 500}/task{d:05d}" for d in
                     {index - 500 - rng.randrange(500) for _ in range(2)} if d >= 0)  # fmt: skip
        ready = max((ends[d] for d in deps), default=0.0)
        slot = min(range(jobs), key=free.__getitem__)
        start = max(free[slot], ready)
        end = start + rng.expovariate(1 / 0.5)
        free[slot], ends[name] = end, end
        spans.append(Span(name, Status.RAN, start, end, ready, ran=True, deps=deps,
                          reason=f"'{name}' does not exist", returncode=0))  # fmt: skip
    return Run(("all",), jobs, "process", BEGAN, max(ends.values()), tuple(spans))


def test_ten_thousand_tasks_make_a_small_page() -> None:
    run = big_run()
    html = page(run)
    assert len(html.encode()) < 1_000_000
    reader = parsed(html)
    assert len(reader.titles) <= BAR_BUDGET + len(critical_path(run)) + 2
    assert html.count("<tr>") == TABLE_ROWS + 1  # and the heading's


def test_trace_has_every_recipe_on_its_lane(tmp_path: Path) -> None:
    run = recorded_run()
    write_trace(run, tmp_path / "out" / "trace.json")
    document = json.loads((tmp_path / "out" / "trace.json").read_text())
    assert document == json.loads(json.dumps(trace_events(run)))
    spans = [event for event in document["traceEvents"] if event["ph"] == "X"]
    assert {event["name"] for event in spans} == RECIPES
    fit3 = next(event for event in spans if event["name"] == "fit3")
    assert (fit3["ts"], fit3["dur"]) == (4_000_000, 1_500_000)
    assert fit3["args"]["waited_s"] == 3
    _, lane_of = lanes(run)
    assert fit3["tid"] == lane_of["fit3"] + 1
    critical = [event["name"] for event in spans if event["args"].get("critical_path")]
    assert sorted(critical) == ["fit2", "prep", "report"]
    names = {e["args"]["name"] for e in document["traceEvents"] if e["name"] == "thread_name"}
    assert names == {"slot 1", "slot 2"}


def test_tee_passes_every_event_to_each_reporter() -> None:
    first, second = RecordingReporter(), RecordingReporter()
    tee = Tee(first, second)
    tee.begin(1, 1)
    tee.started(Task("a", recipe="true"), Reason(ReasonKind.ALWAYS_MAKE), [])
    tee.warning("hello")
    tee.summary(BuildResult({}, ()))
    assert first.events == second.events
    assert [event[0] for event in first.events] == ["begin", "started", "warning", "summary"]


def test_build_api_records_and_writes_the_page_and_the_trace(tmp_path: Path) -> None:
    tasks = [
        Task("a", recipe=Path.touch, args=(tmp_path / "a",)),
        Task("b", deps=["a"], recipe=Path.touch, args=(tmp_path / "b",)),
        Task("all", deps=["b"], phony=True),
    ]
    reporter = RecordingReporter()
    result = build(
        tasks,
        ["all"],
        root=tmp_path,
        executor="thread",
        reporter=reporter,
        timings=tmp_path / "timings",
        trace=tmp_path / "trace.json",
    )
    assert result.ok
    assert result.timings is not None
    assert {span.name for span in result.timings.spans} == {"a", "b", "all"}
    assert critical_path(result.timings) == ("a", "b")
    assert reporter.started_names() == ["a", "b"]  # the user's reporter still hears everything
    pages = sorted(path.name for path in (tmp_path / "timings").iterdir())
    assert len(pages) == 2
    assert LATEST in pages
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    assert {event["name"] for event in events if event["ph"] == "X"} == {"a", "b"}


def test_build_without_timings_records_nothing(tmp_path: Path) -> None:
    result = build([Task("a", phony=True)], root=tmp_path, executor="thread")
    assert result.timings is None
    assert not (tmp_path / ".minimake" / "timings").exists()  # the journal is there


def test_cli_timings_and_trace(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(
        "from minimake import task, phony\n"
        "task('a', recipe='touch a')\n"
        "task('b', recipe='touch b')\n"
        "task('c', deps=['a', 'b'], recipe='touch c')\n"
        "phony('all', deps=['c'], default=True)\n"
    )
    done = cli("-j2", "--timings", "--trace", "run.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Timing report saved to .minimake/timings/minimake-timing-")
    path = tmp_path / last.removeprefix("Timing report saved to ")
    html = path.read_text()
    assert html == (tmp_path / ".minimake" / "timings" / LATEST).read_text()
    assert all(f"{name}\n" in html for name in "abc")
    events = json.loads((tmp_path / "run.json").read_text())["traceEvents"]
    assert {event["name"] for event in events if event["ph"] == "X"} == {"a", "b", "c"}


def test_chromium_draws_the_page(tmp_path: Path) -> None:
    """Headless chromium opens the page and takes a screenshot of the size asked for."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    (tmp_path / "page.html").write_text(page(recorded_run()))
    shot = tmp_path / "page.png"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command += [f"--screenshot={shot}", "--window-size=1000,700", str(tmp_path / "page.html")]
    subprocess.run(command, capture_output=True, timeout=120, check=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1000, 700)
    assert len(data) > 20_000  # a page with bars and text, not a blank one
