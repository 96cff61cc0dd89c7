"""Differential test: minimake against GNU make 4.3 on seeded random DAGs.

Each case generates one graph (tests/dag_gen.py), writes it as a Makefile and as a tasks.py into
identical trees whose files carry explicit mtimes, runs `make -j1` in one tree and minimake at
`-j1` and `-j3` in the others, then compares what make's semantics fix: the set of recipes that
ran (every recipe appends its task name to log.txt), that minimake ran each recipe after its deps,
exit codes, the key messages, `-n` echo lines, and which files `-t` touched. A rerun afterwards
compares the state each tool left behind.

minimake runs in-process through `minimake.cli.main` (its start-up would otherwise dominate);
set MINIMAKE_DIFF=subprocess to run `python -m minimake` instead, or MINIMAKE_DIFF=make to run
GNU make in its place (a self-check of this harness). Everything is seeded: no flakiness.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dag_gen  # noqa: E402
from dag_gen import LOG, Graph, State  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ENGINE = os.environ.get("MINIMAKE_DIFF", "inprocess")
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="GNU make is not installed")

_ENV = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
_ENV["LC_ALL"] = "C"


# --------------------------------------------------------------------------------------------
# Running the tools


@dataclass
class Run:
    """One build: exit code, output, and the task names in log.txt, in order."""

    rc: int
    out: str
    err: str
    log: list[str]

    @property
    def ran(self) -> set[str]:
        return set(self.log)

    def echoed(self) -> list[str]:
        """Recipe lines printed (every generated recipe starts with 'echo ')."""
        return sorted(line for line in self.out.splitlines() if line.startswith("echo "))

    def messages(self, text: str | None = None) -> list[str]:
        """Lines of the tool's own, with the 'make:'/'minimake:' prefix dropped."""
        text = self.out + self.err if text is None else text
        found = []
        for line in text.splitlines():
            m = re.match(r"^(?:mini)?make: (.*)$", line)
            if m:
                found.append(m.group(1))
        return found

    def has(self, message: str) -> bool:
        return any(message in m for m in self.messages())


def _read_log(tree: Path) -> list[str]:
    path = tree / LOG
    return path.read_text().split() if path.exists() else []


def _reset_log(tree: Path) -> None:
    (tree / LOG).unlink(missing_ok=True)


def run_make(tree: Path, args: list[str]) -> Run:
    _reset_log(tree)
    proc = subprocess.run(
        [MAKE, *args], cwd=tree, capture_output=True, text=True, env=_ENV, timeout=60,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, _read_log(tree))


def run_minimake(tree: Path, args: list[str]) -> Run:
    _reset_log(tree)
    if ENGINE == "make":
        return run_make(tree, args)
    if ENGINE == "subprocess":
        env = dict(_ENV, PYTHONPATH=str(REPO))
        proc = subprocess.run(
            [sys.executable, "-m", "minimake", *args], cwd=tree, capture_output=True,
            text=True, env=env, timeout=60, check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr, _read_log(tree))
    from minimake import cli

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    os.chdir(tree)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(args)
            except SystemExit as stop:
                rc = stop.code
    finally:
        os.chdir(old)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    rc = 0 if rc is None else rc
    return Run(int(rc), out.getvalue(), err.getvalue(), _read_log(tree))


# --------------------------------------------------------------------------------------------
# Cases


FLAGS = ["plain", "n", "q", "k", "stop", "B", "t", "W", "o", "restat", "norule"]
SEEDS_PER_FLAG = int(os.environ.get("MINIMAKE_DIFF_SEEDS", "24"))


@dataclass
class Case:
    """A generated graph, its starting file state, the flags to pass and the goals."""

    seed: int
    flag: str
    graph: Graph
    state: State
    args: list[str]
    goals: list[str] = field(default_factory=list)
    story: list[str] = field(default_factory=list)
    reference: Run | None = None

    def describe(self) -> str:
        return (
            f"seed={self.seed} flag={self.flag} args={self.args} goals={self.goals}\n"
            f"changes: {self.story}\n--- Makefile\n{dag_gen.to_makefile(self.graph)}"
        )


def make_case(flag: str, seed: int) -> Case:
    rng = random.Random(f"{flag}-{seed}")
    fail = flag in {"k", "stop"}
    weights = (2, 1, 7) if flag == "restat" else (6, 2, 2)
    graph = dag_gen.random_dag(rng, fail=fail, kind_weights=weights)
    shape = rng.choice(["clean", "built", "random"])
    if flag in {"restat", "q", "B", "W", "o"}:
        shape = rng.choice(["built", "built", "random"])
    if shape == "clean":
        state, story = dag_gen.clean_state(graph), ["clean"]
    elif shape == "built":
        state = dag_gen.built_state(graph)
        story = ["built"]
        if not (flag == "q" and rng.random() < 0.3):
            story += dag_gen.perturb(graph, state, rng, delete_sources=flag == "norule")
    else:
        state, story = dag_gen.random_state(graph, rng), ["random"]
        if flag == "norule":
            story += dag_gen.perturb(graph, state, rng, delete_sources=True)
    args = {"plain": [], "restat": [], "stop": [], "norule": [], "k": ["-k"]}.get(flag, [f"-{flag}"])
    existing = [f for f, m in state.mtimes.items() if m is not None]
    if flag == "W":
        sources = [f for f in existing if f in graph.sources]
        args.append(rng.choice(sources if sources and rng.random() < 0.8 else existing))
    elif flag == "o":
        args.append(rng.choice(graph.files()))
    elif flag == "norule" and rng.random() < 0.5:
        args = ["-k"]
    goals: list[str] = []
    if rng.random() < 0.2:
        names = [n.name for n in graph.nodes if n.name != graph.goal]
        goals = rng.sample(names, rng.randint(1, 2))
    return Case(seed, flag, graph, state, args, goals, story)


def _write_tree(case: Case, root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "Makefile").write_text(dag_gen.to_makefile(case.graph))
    (root / "tasks.py").write_text(dag_gen.to_tasks_py(case.graph))
    case.state.write(root)
    return root


# --------------------------------------------------------------------------------------------
# Checks


def _check_order(case: Case, run: Run, who: str) -> None:
    """No recipe ran twice, and each ran after every dep's recipe that ran in the same build."""
    assert len(run.log) == len(run.ran), f"{who}: a recipe ran twice: {run.log}"
    producers = case.graph.producers()
    position = {name: i for i, name in enumerate(run.log)}
    for name in run.log:
        node = producers[name]
        for dep in (*node.deps, *node.order_only):
            if dep in producers and producers[dep].name in position:
                assert position[producers[dep].name] < position[name], (
                    f"{who}: {name} ran before its dep {dep}: {run.log}"
                )


def _files(case: Case, root: Path) -> dict[str, int | None]:
    return dag_gen.snapshot(root, case.graph.files())


def _exists(snap: dict[str, int | None]) -> set[str]:
    return {name for name, mtime in snap.items() if mtime is not None}


@pytest.mark.parametrize(
    ("flag", "seed"), [(f, s) for f in FLAGS for s in range(SEEDS_PER_FLAG)],
    ids=[f"{f}-{s}" for f in FLAGS for s in range(SEEDS_PER_FLAG)],
)
def test_same_as_make(flag: str, seed: int, tmp_path: Path) -> None:
    case = make_case(flag, seed)
    names = ("make", "j1", "j3", "ref") if flag == "stop" else ("make", "j1", "j3")
    trees = {who: _write_tree(case, tmp_path / who) for who in names}
    before = {who: _files(case, tree) for who, tree in trees.items()}
    cmd = [*case.args, *case.goals]
    make = run_make(trees["make"], ["-j1", *cmd])
    runs = {
        "j1": run_minimake(trees["j1"], ["-j1", *cmd]),
        "j3": run_minimake(trees["j3"], ["-j3", *cmd]),
    }
    info = case.describe() + f"\n--- make rc={make.rc}\n{make.out}{make.err}"
    if flag == "stop":  # what make -k would run from the same start
        case.reference = run_make(trees["ref"], ["-j1", "-k", *case.goals])
    _check_order(case, make, "make")
    for who, run in runs.items():
        where = f"minimake -{who}\n{info}\n--- minimake rc={run.rc}\n{run.out}{run.err}"
        _compare(case, make, run, who, where, trees, before)

    # A plain rerun from the state each tool left behind must agree as well.
    if flag not in {"n", "q", "stop", "norule"}:
        again = run_make(trees["make"], ["-j1", "-k", *case.goals])
        for who in ("j1", "j3"):
            rerun = run_minimake(trees[who], [f"-{who}", "-k", *case.goals])
            where = f"rerun -k, minimake -{who}\n{info}\n--- make rerun rc={again.rc}\n" + (
                f"{again.out}{again.err}\n--- minimake rerun rc={rerun.rc}\n{rerun.out}{rerun.err}"
            )
            assert rerun.rc == again.rc, where
            assert rerun.ran == again.ran, where
            _check_order(case, rerun, f"minimake -{who} rerun")


def _compare(case, make, run, who, where, trees, before) -> None:  # noqa: PLR0915
    flag = case.flag
    after_make = _files(case, trees["make"])
    after = _files(case, trees[who])
    assert run.rc == make.rc, where
    _check_order(case, run, f"minimake -{who}")

    if flag == "n":
        assert run.echoed() == make.echoed(), where
        assert not run.log, where
        assert after == before[who], where
        return
    if flag == "q":
        assert not run.log, where
        assert after == before[who], where
        return
    if flag == "t":
        assert not run.log, where
        touched_make = dag_gen.changed_files(before["make"], after_make)
        touched = dag_gen.changed_files(before[who], after)
        assert touched == touched_make, where
        return
    if flag == "stop" and make.rc == 2:
        # make -j1 stops at the first failure in its own walk order; minimake's order differs.
        # The failing recipe ran in both, and minimake ran nothing make -k would not have run.
        reference = case.reference
        failed = next(n.name for n in case.graph.nodes if n.kind in {"fail", "failpartial"})
        assert failed in run.ran and failed in make.ran, where
        assert run.ran <= reference.ran, where + f"\n--- make -k ran {sorted(reference.ran)}"
        assert run.has("Error 3"), where
        return
    if flag == "norule" and make.rc == 2 and "-k" not in case.args:
        # minimake checks for missing inputs before running anything; make finds them on its walk.
        missing = [m for m in make.messages() if m.startswith("*** No rule to make target")]
        assert missing, where
        assert any(m.startswith("*** No rule to make target") for m in run.messages()), where
        assert run.ran <= make.ran, where
        return

    assert run.ran == make.ran, where
    assert _exists(after) == _exists(after_make), where
    for message in (
        "Nothing to be done for",
        "is up to date.",
        "not remade because of errors.",
        "Deleting file",
    ):
        assert sorted(m for m in run.messages() if message in m) == sorted(
            m for m in make.messages() if message in m
        ), f"message {message!r}\n{where}"
    errors = sorted(re.findall(r"\*\*\* \[[^\]]*: ([^\]:]+)\] Error (\d+)", make.err))
    assert sorted(re.findall(r"\*\*\* \[[^\]]*: ([^\]:]+)\] Error (\d+)", run.err)) == errors, where


# --------------------------------------------------------------------------------------------
# Generator sanity, and cycles (which only minimake refuses)


def test_generator_is_deterministic() -> None:
    a, b = make_case("k", 7), make_case("k", 7)
    assert dag_gen.to_makefile(a.graph) == dag_gen.to_makefile(b.graph)
    assert a.state.mtimes == b.state.mtimes
    assert a.args == b.args


def test_dependency_cycle_is_fatal(tmp_path: Path) -> None:
    (tmp_path / "Makefile").write_text(".PHONY: all\nall: a\na: b\n\ttouch a\nb: a\n\ttouch b\n")
    (tmp_path / "tasks.py").write_text(
        "from minimake import phony, task\n"
        "phony('all', deps=['a'], default=True)\n"
        "task('a', deps=['b'], recipe='touch a')\n"
        "task('b', deps=['a'], recipe='touch b')\n"
    )
    make = run_make(tmp_path, [])
    assert make.has("Circular b <- a dependency dropped."), make.err  # make only warns
    if ENGINE == "make":
        return
    for name in ("a", "b"):
        (tmp_path / name).unlink(missing_ok=True)
    run = run_minimake(tmp_path, [])
    assert run.rc == 2
    assert run.has("*** Dependency cycle: a -> b -> a.  Stop.") or run.has(
        "*** Dependency cycle: b -> a -> b.  Stop."
    ), run.err
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
