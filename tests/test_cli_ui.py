"""What a user sees from the real command line: the live display under a pseudo-terminal, plain
and make-exact output in pipes, -n reasons, --json, --list, --graph, --explain, "did you mean"."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from minimake import Task
from minimake.graph import build_graph
from minimake.view.render import list_tasks, to_dot, to_mermaid
from tests.conftest import REPO, cli, touch, write_tasks

pexpect = pytest.importorskip("pexpect")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MOVES = re.compile(r"\x1b\[[0-9;]*[ABCDEFGHJK]")
COLOR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|9[0-7]|38;5;\d+)m")

BLOCKS = """\
from minimake import phony, task
phony("all", deps=[f"t{i}" for i in range(6)], doc="Every block.")
for i in range(6):
    lines = "; ".join(f"echo block {i} line {n}" for n in range(4))
    task(f"t{i}", recipe=f"{lines}; touch t{i}")
"""


def terminal(cwd: Path, *args: str, **env: str) -> tuple[str, int]:
    """Run minimake under a pseudo-terminal; returns everything it wrote and its exit status."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", **env}
    environment.pop("NO_COLOR", None) if "NO_COLOR" not in env else None
    child = pexpect.spawn(
        sys.executable,
        ["-m", "minimake", *args],
        cwd=str(cwd),
        env=environment,
        dimensions=(30, 120),
        encoding="utf-8",
    )
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    return child.before, child.exitstatus


def plain(raw: str) -> str:
    """The text a terminal showed over time, one line per line it wrote, blank lines dropped."""
    text = MOVES.sub("\n", raw)  # a cursor move or an erase starts a new line
    text = ANSI.sub("", text).replace("\r", "\n")
    return "\n".join(line for line in text.split("\n") if line.strip()) + "\n"


def test_live_display_appears_and_task_blocks_never_interleave(tmp_path: Path) -> None:
    write_tasks(tmp_path, BLOCKS)
    raw, status = terminal(tmp_path, "-j3")
    assert status == 0, raw
    text = plain(raw)
    assert re.search(r"\d/6 done · \d running · 0 failed · [0-9.]+s elapsed · ETA", text)
    assert "\x1b[?25l" in raw  # the display hid the cursor...
    assert raw.rstrip().endswith("\x1b[?25h") or "\x1b[?25h" in raw  # ...and gave it back
    lines = text.splitlines()
    for i in range(6):
        first = lines.index(f"block {i} line 0")
        assert lines[first : first + 4] == [f"block {i} line {n}" for n in range(4)]
        assert lines[first - 1].startswith(f"✓ t{i}  ")  # the block's header is right above it
    assert "Summary: 6 ran, 0 up to date, 0 failed, 0 skipped in" in text


def test_no_color_keeps_the_display_without_colours(tmp_path: Path) -> None:
    write_tasks(tmp_path, BLOCKS)
    raw, status = terminal(tmp_path, "-j2", NO_COLOR="1")
    assert status == 0, raw
    assert "done ·" in plain(raw)
    assert not COLOR.search(raw)


def test_dumb_terminal_gets_plain_lines_without_control_codes(tmp_path: Path) -> None:
    write_tasks(tmp_path, BLOCKS)
    raw, status = terminal(tmp_path, "-j2", TERM="dumb")
    assert status == 0, raw
    assert "\x1b" not in raw
    assert re.search(r"^\[\d/6\] done t0 \(", raw.replace("\r", ""), re.M)


def test_silent_under_a_terminal_shows_no_display(tmp_path: Path) -> None:
    write_tasks(tmp_path, BLOCKS)
    raw, status = terminal(tmp_path, "-s")
    assert status == 0
    assert "done ·" not in raw
    assert "Summary" not in raw


def test_ctrl_c_takes_the_display_down(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        'from minimake import task\ntask("slow", recipe="sleep 600; touch slow")\n',
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    child = pexpect.spawn(
        sys.executable, ["-m", "minimake"], cwd=str(tmp_path), env=environment, encoding="utf-8"
    )
    # Wait until the display shows the recipe running for a while, so it surely started.
    child.expect(r"slow(?:\x1b\[[0-9;]*m)*  (?:0\.[5-9]|[1-9])", timeout=60)
    child.sendintr()
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    raw = child.before
    assert child.exitstatus == 130
    assert "minimake: *** [tasks.py:2: slow] Interrupt" in plain(raw)
    assert "Interrupted: 0 ran" in plain(raw)
    assert "\x1b[?25h" in raw
    assert not (tmp_path / "slow").exists()


# --- pipes

# make's lines only: no plain progress lines on stderr.
MAKE_ONLY = {"MINIMAKE_PROGRESS": "off"}


FAILING = """\
from minimake import phony, task
task("bad", recipe="echo partial > bad; echo oops; echo again; exit 3")
task("after", deps=["bad"], recipe="touch after")
task("ok", recipe="touch ok")
phony("all", deps=["after", "ok"])
"""


def test_piped_run_prints_exactly_what_make_prints(tmp_path: Path) -> None:
    write_tasks(tmp_path, BLOCKS)
    run = cli("-j2", cwd=tmp_path, env=MAKE_ONLY)
    assert run.returncode == 0
    assert run.stderr == ""
    assert "\x1b" not in run.stdout
    assert sum(line.startswith("echo block") for line in run.stdout.splitlines()) == 6


def test_plain_progress_lines_and_failure_report(tmp_path: Path) -> None:
    write_tasks(tmp_path, FAILING)
    run = cli("-k", "--progress", "plain", "all", cwd=tmp_path)
    assert run.returncode == 2
    assert "\x1b" not in run.stderr
    lines = run.stderr.splitlines()
    assert lines[:2] == [
        "minimake: *** [tasks.py:2: bad] Error 3",
        "minimake: *** Deleting file 'bad'",
    ]
    assert re.fullmatch(r"\[1/3\] FAILED bad \(\d+\.\ds\)", lines[2])
    assert "[2/3] skipped after (blocked by bad)" in lines
    assert re.search(r"^\[\d/3\] done ok \(", run.stderr, re.M)
    assert "Summary: 1 ran, 0 up to date, 1 failed, 2 skipped in" in run.stderr
    assert "  ✗ bad (tasks.py:2): Error 3" in lines
    assert "    │ again" in lines
    assert "    full output: .minimake/logs/bad.log" in lines
    assert "    blocked: after, all" in lines
    assert (tmp_path / ".minimake/logs/bad.log").read_text().endswith("oops\nagain\n")
    assert run.stdout.splitlines()[:2] == [
        "echo partial > bad; echo oops; echo again; exit 3",
        "oops",
    ]


def test_progress_mode_from_the_environment(tmp_path: Path) -> None:
    write_tasks(tmp_path, 'from minimake import task\ntask("a", recipe="touch a")\n')
    run = cli(cwd=tmp_path, env={"MINIMAKE_PROGRESS": "plain"})
    assert re.match(r"\[1/1\] done a \(", run.stderr)
    assert (
        cli("-B", "--progress", "off", cwd=tmp_path, env={"MINIMAKE_PROGRESS": "plain"}).stderr
        == ""
    )


CHAIN = """\
from minimake import phony, task
task("b.txt", deps=["a.txt"], recipe="sort a.txt > b.txt", doc="Sort the words.")
task("c.txt", deps=["b.txt"], recipe=["cp b.txt c.txt", "echo made c"])
phony("all", deps=["c.txt"], default=True)
"""


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    write_tasks(tmp_path, CHAIN)
    touch(tmp_path / "a.txt", 0, "z\na\n")
    return tmp_path


def built(chain: Path) -> None:
    for seconds, name in enumerate(["a.txt", "b.txt", "c.txt"]):
        touch(chain / name, seconds, "a\nz\n")


def test_dry_run_gives_reasons_in_order_on_stderr(chain: Path) -> None:
    built(chain)
    touch(chain / "a.txt", 10)
    run = cli("-n", cwd=chain)
    assert run.stdout == "sort a.txt > b.txt\ncp b.txt c.txt\necho made c\n"
    lines = run.stderr.splitlines()
    assert re.fullmatch(r"would run b.txt: 'a.txt' is newer than 'b.txt' \(.+ > .+\)", lines[0])
    assert lines[1] == "would run c.txt: 'b.txt' will be remade"
    assert lines[2].startswith("Summary: 2 would run, 0 up to date, 0 failed, 0 skipped in ")
    forced = cli("-n", "-B", cwd=chain).stderr
    assert "would run b.txt: forced by -B" in forced


def test_verbose_gives_reasons_in_a_real_run(chain: Path) -> None:
    run = cli("-v", cwd=chain)
    assert run.stderr.splitlines()[0] == "run b.txt: 'b.txt' does not exist"


def test_json_run_is_one_document_on_stdout(chain: Path) -> None:
    run = cli("--json", cwd=chain)
    assert run.returncode == 0
    document = json.loads(run.stdout)
    assert document["ok"] is True
    assert document["counts"]["ran"] == 2
    assert [t["name"] for t in document["tasks"]] == ["b.txt", "c.txt", "all"]
    assert document["tasks"][0]["reason"] == "'b.txt' does not exist"
    assert [t["reason_kind"] for t in document["tasks"]] == ["missing", "missing", "phony"]
    assert "sort a.txt > b.txt" in run.stderr  # the log lines moved to stderr
    assert "made c" in run.stderr


def test_json_dry_run_and_error(chain: Path) -> None:
    document = json.loads(cli("--json", "-n", cwd=chain).stdout)
    assert [t["status"] for t in document["tasks"]] == ["would_run", "would_run", "would_run"]
    assert document["counts"]["would_run"] == 2
    bad = cli("--json", "nosuch", cwd=chain)
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["error"] == "No rule to make target 'nosuch'."


def test_list_shows_tasks_with_their_descriptions(chain: Path) -> None:
    run = cli("--list", cwd=chain)
    assert run.returncode == 0
    assert run.stdout.splitlines() == [
        "  b.txt  Sort the words.",
        "  c.txt",
        "* all    (phony)",
    ]


def test_graph_as_dot_and_mermaid(chain: Path) -> None:
    dot = cli("--graph", cwd=chain).stdout
    assert dot.startswith("digraph minimake {")
    assert '  "a.txt" -> "b.txt";' in dot
    assert '  "c.txt" -> "all";' in dot
    mermaid = cli("--graph", "mermaid", "c.txt", cwd=chain).stdout
    assert mermaid.splitlines() == [
        "flowchart LR",
        '  n0["b.txt"]',
        '  n1["c.txt"]',
        '  n2[/"a.txt"/]',
        "  n2 --> n0",
        "  n0 --> n1",
    ]
    assert (
        cli("--graph", "c.txt", cwd=chain).stdout == cli("--graph=dot", "c.txt", cwd=chain).stdout
    )
    assert not (chain / "b.txt").exists()  # nothing ran


def test_explain_follows_the_chain(chain: Path) -> None:
    built(chain)
    touch(chain / "b.txt", 10)
    run = cli("--explain", "c.txt", cwd=chain)
    assert run.returncode == 0
    assert re.fullmatch(r"'c.txt' is stale: 'b.txt' is newer than 'c.txt' \(.+\)\n", run.stdout)
    up = cli("--explain", "b.txt", cwd=chain).stdout
    assert up.startswith("'b.txt' is up to date: its newest dep 'a.txt' (")
    unknown = cli("--explain", "c.tx", cwd=chain)
    assert unknown.returncode == 2
    assert "minimake: Did you mean 'c.txt'" in unknown.stderr


def test_did_you_mean_for_a_missing_input(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        'from minimake import task\ntask("data.csv", recipe="x")\n'
        'task("model", deps=["data.cvs"], recipe="y")\n',
    )
    run = cli("model", cwd=tmp_path)
    assert run.stderr == (
        "minimake: *** No rule to make target 'data.cvs', needed by 'model'.  Stop.\n"
        "minimake: Did you mean 'data.csv'?\n"
    )


def test_python_exception_names_the_tasks_py_line(tmp_path: Path) -> None:
    write_tasks(
        tmp_path,
        """\
        from minimake import task
        def boom():
            print("working")
            raise ValueError("bad input")
        task("x", recipe=boom)
        """,
    )
    run = cli(cwd=tmp_path, env=MAKE_ONLY)
    assert run.stderr.splitlines() == [
        "minimake: *** [tasks.py:5: x] ValueError: bad input",
        'minimake: raised at tasks.py:4, in boom: raise ValueError("bad input")',
    ]
    verbose = cli("-v", cwd=tmp_path, env=MAKE_ONLY).stderr
    assert "Traceback (most recent call last)" in verbose
    assert "raised at" not in verbose


# --- the renderers, without the command line


def test_list_marks_the_default_and_cuts_long_docs() -> None:
    tasks = [
        Task.create("a", recipe="x", doc="First line.\nMore detail."),
        Task.create("a-much-longer-name", recipe="y", default=True),
    ]
    assert list_tasks(tasks, "a-much-longer-name") == [
        "  a                   First line.",
        "* a-much-longer-name",
    ]


def test_dot_quotes_odd_names_and_dashes_order_only_edges() -> None:
    tasks = [
        Task.create('say "hi"', deps=["in\\put"], order_only=["dir"], recipe="x"),
        Task.create("dir", recipe="mkdir dir"),
    ]
    graph = build_graph(tasks)
    dot = to_dot(graph, set(graph.tasks))
    assert '  "say \\"hi\\"";' in dot
    assert '  "in\\\\put" [shape=note];' in dot
    assert '  "dir" -> "say \\"hi\\"" [style=dashed];' in dot
    mermaid = to_mermaid(graph, set(graph.tasks))
    assert '  n0["say #quot;hi#quot;"]' in mermaid
    assert "  n1 -.-> n0" in mermaid
