"""Differential test: minimake against GNU make 4.3 on seeded random DAGs.

Each case generates one graph (tests/dag_gen.py), writes it as a Makefile and as a tasks.py into
identical trees whose files carry explicit mtimes, runs `make -j1` in one tree and minimake at
`-j1` and `-j3` in the others, then compares what make's semantics fix: the set of recipes that
ran (every recipe appends its task name to log.txt), that minimake ran each recipe after its deps,
and at `-j1` in make's own order (as the `-n` lines are printed), exit codes, the key messages,
`-n` echo lines, and which files `-t` touched. A rerun afterwards compares the state each tool
left behind.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import dag_gen
from dag_gen import LOG, Graph, State

from tests.conftest import needs_make

REPO = Path(__file__).resolve().parent.parent
ENGINE = os.environ.get("MINIMAKE_DIFF", "inprocess")
MAKE = shutil.which("make")

pytestmark = needs_make

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

    def failed(self, *, ignored: bool = False) -> set[str]:
        """Targets named in '*** [file:line: target] Error N' lines (or 'Error N (ignored)')."""
        if ignored:
            return set(re.findall(r"\[[^\]]*: ([^\]:]+)\] Error \d+ \(ignored\)", self.err))
        return set(re.findall(r"\*\*\* \[[^\]]*: ([^\]:]+)\] Error \d+", self.err))

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
        [MAKE, *args],
        cwd=tree,
        capture_output=True,
        text=True,
        env=_ENV,
        timeout=60,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, _read_log(tree))


def run_minimake(tree: Path, args: list[str], engine: str = ENGINE) -> Run:
    _reset_log(tree)
    if engine == "make":
        return run_make(tree, args)
    if engine == "subprocess":
        env = dict(_ENV, PYTHONPATH=str(REPO))
        proc = subprocess.run(
            [sys.executable, "-m", "minimake", *args],
            cwd=tree,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
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


FLAGS = ["plain", "n", "q", "k", "stop", "i", "B", "t", "W", "nW", "o", "restat", "norule"]
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
    fail = flag in {"k", "stop", "i"}
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
    special = {"plain": [], "restat": [], "stop": [], "norule": [], "k": ["-k"], "nW": ["-n", "-W"]}
    args = special.get(flag, [f"-{flag}"])
    existing = [f for f, m in state.mtimes.items() if m is not None]
    if flag in {"W", "nW"}:
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
    ("flag", "seed"),
    [(f, s) for f in FLAGS for s in range(SEEDS_PER_FLAG)],
    ids=[f"{f}-{s}" for f in FLAGS for s in range(SEEDS_PER_FLAG)],
)
def test_same_as_make(flag: str, seed: int, tmp_path: Path) -> None:
    _differential(make_case(flag, seed), tmp_path, ENGINE)


@pytest.mark.parametrize(("flag", "seed"), [("plain", 100), ("k", 100), ("t", 100)])
def test_same_as_make_through_the_cli(flag: str, seed: int, tmp_path: Path) -> None:
    """A few cases through `python -m minimake` itself (slower: a process per run)."""
    _differential(make_case(flag, seed), tmp_path, "make" if ENGINE == "make" else "subprocess")


def _differential(case: Case, tmp_path: Path, engine: str) -> None:
    flag = case.flag
    names = ("make", "j1", "j3", "ref") if flag == "stop" else ("make", "j1", "j3")
    trees = {who: _write_tree(case, tmp_path / who) for who in names}
    before = {who: _files(case, tree) for who, tree in trees.items()}
    cmd = [*case.args, *case.goals]
    make = run_make(trees["make"], ["-j1", *cmd])
    if flag == "stop":  # what make -k would run from the same start
        case.reference = run_make(trees["ref"], ["-j1", "-k", *case.goals])
    _check_order(case, make, "make")
    info = case.describe() + f"\n--- make rc={make.rc}\n{make.out}{make.err}"
    for who in ("j1", "j3"):
        run = run_minimake(trees[who], [f"-{who}", *cmd], engine)
        where = f"minimake -{who}\n{info}\n--- minimake rc={run.rc}\n{run.out}{run.err}"
        touched = dag_gen.changed_files(before[who], _files(case, trees[who]))
        touched_make = dag_gen.changed_files(before["make"], _files(case, trees["make"]))
        with _unless_known(case, make, run, touched_make, touched):
            _compare(case, make, run, touched_make, touched, where)
            _check_order(case, run, f"minimake -{who}")
            if who == "j1" and not _checks_first(case, make):
                # One job: make's walk order, recipe for recipe.
                _same_order(case, make, run, where)
            if flag in {"plain", "k", "i", "B", "W", "o", "restat", "norule"} or (
                flag == "stop" and make.rc == 0
            ):
                exists = dag_gen.snapshot(trees[who], case.graph.files())
                exists_make = dag_gen.snapshot(trees["make"], case.graph.files())
                assert _exists(exists) == _exists(exists_make), "files left\n" + where

    # A rerun (-k) from the state each tool left behind must agree as well.
    if flag in {"n", "nW", "q", "stop", "norule"}:
        return
    again = run_make(trees["make"], ["-j1", "-k", *case.goals])
    for who in ("j1", "j3"):
        rerun = run_minimake(trees[who], [f"-{who}", "-k", *case.goals], engine)
        where = f"rerun -k, minimake -{who}\n{info}\n--- make rerun rc={again.rc}\n" + (
            f"{again.out}{again.err}\n--- minimake rerun rc={rerun.rc}\n{rerun.out}{rerun.err}"
        )
        with _unless_known(case, again, rerun, set(), set()):
            assert rerun.rc == again.rc, where
            assert rerun.ran == again.ran, where
            if who == "j1":
                assert rerun.log == again.log, "recipes in make's order\n" + where
            _check_order(case, rerun, f"minimake -{who} rerun")


def _compare(
    case: Case, make: Run, run: Run, touched_make: set[str], touched: set[str], where: str
) -> None:
    """Assert what make's semantics fix for this flag."""
    flag = case.flag
    assert run.rc == make.rc, "exit code\n" + where
    if flag in {"n", "nW", "q", "t"}:
        assert not run.log, "ran a recipe\n" + where
        if flag in {"n", "nW"}:
            assert run.echoed() == make.echoed(), "-n lines\n" + where
        assert touched == touched_make, "files touched\n" + where
        return
    if flag == "stop" and make.rc == 2:
        # make -j1 stops at the first failure in its walk order; minimake -j1 too (_same_order),
        # but -j3 may have started more by then.
        # The failing recipe ran in both, and minimake ran nothing make -k would not have run.
        reference = case.reference
        assert reference is not None
        failed = next(n.name for n in case.graph.nodes if n.kind.startswith("fail"))
        assert failed in run.ran, where
        assert failed in make.ran, where
        assert run.ran <= reference.ran, where + f"\n--- make -k ran {sorted(reference.ran)}"
        assert run.failed() == {failed}, where
        return
    if _checks_first(case, make):
        # minimake checks for missing inputs before running anything; make finds them on its walk.
        assert any(m.startswith("*** No rule to make target") for m in make.messages()), where
        assert any(m.startswith("*** No rule to make target") for m in run.messages()), where
        assert not run.ran or ENGINE == "make", where
        return
    assert run.ran == make.ran, "recipes run\n" + where
    assert run.failed() == make.failed(), "failed targets\n" + where
    _compare_messages(case, make, run, where)
    assert run.echoed() == make.echoed(), "echoed recipe lines\n" + where


def _checks_first(case: Case, make: Run) -> bool:
    """Whether make stopped at a missing input on its walk, where minimake, which checks for
    them before anything runs, ran nothing (README: where minimake differs)."""
    return case.flag == "norule" and make.rc == 2 and "-k" not in case.args


def _same_order(case: Case, make: Run, run: Run, where: str) -> None:
    """With one job minimake runs (or prints, under -n) the recipes in make's order."""
    if case.flag in {"n", "nW"}:
        echoed = [line for line in run.out.splitlines() if line.startswith("echo ")]
        assert echoed == [line for line in make.out.splitlines() if line.startswith("echo ")], (
            "-n lines in make's order\n" + where
        )
    assert run.log == make.log, "recipes in make's order\n" + where


def _compare_messages(case: Case, make: Run, run: Run, where: str) -> None:
    def pick(tool: Run, text: str) -> list[str]:
        return sorted(m for m in tool.messages() if text in m)

    for text in ("not remade because of errors.", "Deleting file"):  # both on stderr
        mine = sorted(m for m in run.messages(run.err) if text in m)
        assert mine == sorted(m for m in make.messages(make.err) if text in m), (
            f"message {text!r} on stderr\n{where}"
        )
    assert run.failed(ignored=True) == make.failed(ignored=True), "ignored errors\n" + where
    for text in ("Nothing to be done for", "is up to date."):
        # make judges each goal in turn: a goal remade while an earlier goal was built is then
        # reported 'up to date'. Compare only goals with no recipe run under them at all.
        quiet = [
            g
            for g in case.goals or [case.graph.goal]
            if not (case.graph.ancestors([g]) | {g}) & make.ran
        ]
        mine = [m for m in pick(run, text) if any(f"'{g}'" in m for g in quiet)]
        theirs = [m for m in pick(make, text) if any(f"'{g}'" in m for g in quiet)]
        assert mine == theirs, f"message {text!r}\n{where}"


# --------------------------------------------------------------------------------------------
# Known divergences. Where make 4.3 itself is inconsistent (grouped targets) minimake's answer is
# accepted. Where minimake differs, a case that shows that divergence and nothing else is an
# expected failure (xfail, listed by -ra); once the engine is fixed those cases simply pass, and
# the clause below can go.


@contextlib.contextmanager
def _unless_known(
    case: Case, make: Run, run: Run, touched_make: set[str], touched: set[str]
) -> Iterator[None]:
    try:
        yield
    except AssertionError:
        reason = _known_divergence(case, make, run, touched_make, touched)
        if reason is None:
            raise
        if reason.startswith("make 4.3"):
            return  # make's quirk, not ours: minimake's answer is the consistent one
        pytest.xfail(f"known divergence from make: {reason}")


def _known_divergence(
    case: Case, make: Run, run: Run, touched_make: set[str], touched: set[str]
) -> str | None:
    graph, flag = case.graph, case.flag
    nodes = graph.by_name()
    differ = (run.ran ^ make.ran) | {graph.producers()[f].name for f in touched ^ touched_make}
    owner = {line: n.name for n in graph.nodes for line in n.recipe}
    echo_differ = {owner[line] for line in set(run.echoed()) ^ set(make.echoed())}
    if flag in {"n", "nW"}:
        differ |= echo_differ
    group = next((n for n in graph.nodes if len(n.targets) > 1), None)
    if group is not None and not differ and run.log != make.log:
        apart = [[name for name in tool.log if name != group.name] for tool in (run, make)]
        if apart[0] == apart[1]:
            # make 4.3 looks at a grouped target's members one by one, and remakes the group
            # when it reaches an old member; minimake where it first reaches the group.
            return "make 4.3 remakes a group where its walk reaches an old member"
    if group is not None and differ:
        downstream = graph.descendants([group.name])
        if flag in {"n", "nW", "q"} and differ <= downstream:
            # make 4.3 bug: under -n/-q a grouped target that would be remade is not treated as
            # new by its dependents (`a b &: s` + `c: a`: `make -n` lists a's recipe, not c's).
            return "make 4.3 -n does not propagate a grouped target's remake to dependents"
        if flag == "t" and differ <= {group.name}:
            # make -t touches the member it was asked for, and counts the others as made.
            return "make 4.3 -t touches one member of a grouped target"
        goals = case.goals or [graph.goal]
        considered = [nodes[n] for n in graph.ancestors(goals) | set(goals)]
        needed = set(goals) | {d for n in considered for d in (*n.deps, *n.order_only)}
        if not set(group.targets) <= needed and differ <= {group.name} | downstream:
            # make looks at a grouped target's members one by one: one nothing needs is never
            # checked (a missing one does not rerun the recipe, -t does not touch it).
            return "make 4.3 judges grouped targets (a b &:) member by member"
    return None


def pick_not_remade(run: Run) -> list[str]:
    return re.findall(r"Target '([^']+)' not remade because of errors\.", run.out + run.err)


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


def test_unchanged_target_does_not_force_dependents(tmp_path: Path) -> None:
    """make's implicit restat: a recipe that leaves its existing target alone stops the chain."""
    graph = Graph(
        ("src",),
        (
            dag_gen.Node(("all",), ("b",), phony=True, kind="goal"),
            dag_gen.Node(("a",), ("src",), recipe=(f"echo a >> {LOG} && true",), kind="lazy"),
            dag_gen.Node(("b",), ("a",), recipe=(f"echo b >> {LOG} && echo b > b",)),
        ),
    )
    state = State({"src": dag_gen.TOUCH_NS, "a": dag_gen.BASE_NS, "b": dag_gen.BASE_NS + 1})
    case = Case(0, "restat", graph, state, [])
    runs = {}
    for who in ("make", "minimake"):
        tree = _write_tree(case, tmp_path / who)
        runs[who] = (run_make if who == "make" else run_minimake)(tree, [])
    assert runs["make"].log == ["a"]
    assert runs["minimake"].log == ["a"], runs["minimake"].out + runs["minimake"].err
