"""Benchmark minimake's engine beside GNU make, ninja and doit on the same generated graphs.

Scenarios (sizes shrink with --quick), after (0) the start-up cost alone (`--version`):
  (a) N independent trivial shell tasks (`touch out/N`) at -j2 from clean;
  (b) the null build of a random DAG of M tasks (1-3 deps each on earlier nodes), all files
      pre-created with increasing explicit mtimes;
  (c) `-n` on the same DAG with every task stale (doit has no dry run: n/a);
  (d) the same DAG built from clean at -j2;
  (e) 100 recipes of `sleep 0.1` at -j2, also as a ratio to the ideal 5.0 s.

Every tool gets its own copy of the tree; whole processes are timed (wall clock, perf_counter)
and their peak RSS read with /usr/bin/time (or wait4()). Medians of --reps repetitions.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import dag_gen  # noqa: E402

TOOLS = ("minimake", "make", "ninja", "doit")
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

ENV = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


@dataclass
class Sample:
    """One timed process: wall seconds, peak RSS in KiB, exit code and its output file."""

    seconds: float
    rss_kib: int
    rc: int
    output: str


def timed(cmd: list[str], cwd: Path) -> Sample:
    """Run `cmd` in `cwd`, stdout+stderr to a file; wall time and peak RSS.

    The peak RSS comes from /usr/bin/time (GNU time's %M): a child forked from this Python
    process would report the parent's pages in its high-water mark even after exec. Without
    /usr/bin/time, wait4()'s ru_maxrss is used, which overstates small tools by that amount.
    """
    log = cwd / ".bench-output"
    rss_file = cwd / ".bench-rss"
    wrapper = [TIME, "-f", "%M", "-o", str(rss_file)] if TIME else []
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*wrapper, *cmd], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=ENV
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    rss_kib = usage.ru_maxrss  # KiB on Linux
    if TIME:
        rss_kib = int(rss_file.read_text().split()[-1])
        rss_file.unlink()
    return Sample(seconds, rss_kib, proc.returncode, log.read_text(errors="replace"))


def minimake_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "minimake", *args]


# --------------------------------------------------------------------------------------------
# Trees


def write_tree(graph: dag_gen.Graph, root: Path, state: dag_gen.State | None) -> Path:
    if root.exists():
        shutil.rmtree(root)
    dag_gen.write_build_files(graph, root, loop=True)
    if state is not None:
        state.write(root)
    return root


def touch_sources(graph: dag_gen.Graph, root: Path) -> None:
    """Make every source newer than everything else (the current time), so all tasks are stale."""
    now = time.time_ns()
    for name in graph.sources:
        os.utime(root / name, ns=(now, now))


# --------------------------------------------------------------------------------------------
# Scenarios: each returns {tool: [Sample, ...]} (None where the tool cannot do it)


Results = dict[str, list[Sample] | None]


def startup(work: Path, reps: int, tools: tuple[str, ...]) -> Results:
    """`--version`: the fixed cost of starting each tool, for reading the other figures."""
    root = work / "startup"
    root.mkdir()
    results: Results = {}
    for tool in tools:
        command = minimake_cmd("--version") if tool == "minimake" else [tool, "--version"]
        results[tool] = [_expect(timed(command, root), tool, "start-up") for _ in range(reps)]
    return results


def independent(work: Path, n_tasks: int, reps: int, tools: tuple[str, ...]) -> Results:
    graph = dag_gen.independent_tasks(n_tasks)
    results: Results = {}
    for tool in tools:
        samples = []
        for rep in range(reps):
            root = write_tree(graph, work / f"a-{tool}-{rep}", None)
            (root / "out").mkdir()
            sample = timed(_JOBS2[tool], root)
            _expect(sample, tool, "(a)")
            built = len(os.listdir(root / "out"))
            if built != n_tasks:
                raise SystemExit(f"(a) {tool} built {built} of {n_tasks} files:\n{sample.output}")
            samples.append(sample)
            shutil.rmtree(root)
        results[tool] = samples
    return results


def full_build(work: Path, n_tasks: int, reps: int, tools: tuple[str, ...]) -> Results:
    """The random DAG of (b) built from clean at -j2: only the sources exist."""
    graph = dag_gen.bench_dag(n_tasks, seed=1)
    state = dag_gen.clean_state(graph)
    targets = [node.name for node in graph.nodes if not node.phony]
    results: Results = {}
    for tool in tools:
        samples = []
        for rep in range(reps):
            root = write_tree(graph, work / f"d-{tool}-{rep}", state)
            (root / "t").mkdir(exist_ok=True)
            sample = _expect(timed(_JOBS2[tool], root), tool, "(d)")
            missing = [name for name in targets if not (root / name).exists()]
            if missing:
                raise SystemExit(f"(d) {tool} left {len(missing)} targets unbuilt")
            samples.append(sample)
            shutil.rmtree(root)
        results[tool] = samples
    return results


def sleepers(work: Path, n_tasks: int, reps: int, tools: tuple[str, ...]) -> Results:
    """`n_tasks` recipes of `sleep 0.1` at -j2: the ideal is n_tasks * 0.05 s, the rest is the
    runner's own cost per task, which a build of short recipes pays over and over."""
    nodes = [
        dag_gen.Node((f"out/{i}",), recipe=("sleep 0.1", f"touch out/{i}")) for i in range(n_tasks)
    ]
    goal = dag_gen.Node(("all",), tuple(n.name for n in nodes), phony=True, kind="goal")
    graph = dag_gen.Graph((), (goal, *nodes))
    results: Results = {}
    for tool in tools:
        samples = []
        for rep in range(reps):
            root = write_tree(graph, work / f"e-{tool}-{rep}", None)
            (root / "out").mkdir()
            samples.append(_expect(timed(_JOBS2[tool], root), tool, "(e)"))
            shutil.rmtree(root)
        results[tool] = samples
    return results


_JOBS2 = {
    "minimake": minimake_cmd("-j2"),
    "make": ["make", "-j2"],
    "ninja": ["ninja", "-j2"],
    "doit": ["doit", "-n", "2"],
}


def null_and_dry_run(
    work: Path, n_tasks: int, reps: int, tools: tuple[str, ...], progress: Callable[[str], None]
) -> tuple[Results, Results]:
    graph = dag_gen.bench_dag(n_tasks, seed=1)
    state = dag_gen.built_state(graph)
    null: Results = {}
    dry: Results = {}
    for tool in tools:
        root = write_tree(graph, work / f"b-{tool}", state)
        if tool == "ninja":
            progress("    ninja: first build to fill .ninja_log (untimed)")
            _expect(timed(["ninja", "-j2"], root), tool, "(b) warm-up")
        elif tool == "doit":
            progress("    doit: reset-dep to fill .doit.db (untimed)")
            _expect(timed(["doit", "reset-dep"], root), tool, "(b) warm-up")
        command = {
            "minimake": minimake_cmd(),
            "make": ["make"],
            "ninja": ["ninja"],
            "doit": ["doit"],
        }[tool]
        null[tool] = [_expect_null(timed(command, root), tool) for _ in range(reps)]

        time.sleep(0.05)  # past the coarse clock tick of the warm-up's last file
        touch_sources(graph, root)
        dry_command = {
            "minimake": minimake_cmd("-n"),
            "make": ["make", "-n"],
            "ninja": ["ninja", "-n"],
            "doit": None,
        }[tool]
        if dry_command is None:
            dry[tool] = None
        else:
            dry[tool] = [_expect_dry(timed(dry_command, root), tool, n_tasks) for _ in range(reps)]
        shutil.rmtree(root)
    return null, dry


def _expect(sample: Sample, tool: str, what: str) -> Sample:
    if sample.rc != 0:
        raise SystemExit(f"{what}: {tool} exited {sample.rc}:\n{sample.output[-3000:]}")
    return sample


def _expect_null(sample: Sample, tool: str) -> Sample:
    _expect(sample, tool, "(b)")
    ran = {
        "minimake": "Nothing to be done" not in sample.output,
        "make": "Nothing to be done" not in sample.output,
        "ninja": "no work to do" not in sample.output,
        "doit": any(line.startswith(".  ") for line in sample.output.splitlines()),
    }[tool]
    if ran:
        raise SystemExit(f"(b) {tool}: the null build did work:\n{sample.output[:3000]}")
    return sample


def _expect_dry(sample: Sample, tool: str, n_tasks: int) -> Sample:
    _expect(sample, tool, "(c)")
    lines = sum("touch t/" in line for line in sample.output.splitlines())
    if lines != n_tasks:
        raise SystemExit(
            f"(c) {tool} -n listed {lines} of {n_tasks} tasks:\n{sample.output[:3000]}"
        )
    return sample


# --------------------------------------------------------------------------------------------
# Report


def report(title: str, results: Results, ideal: float | None = None) -> list[str]:
    def median(tool: str, attr: str) -> float | None:
        samples = results.get(tool)
        return statistics.median(getattr(s, attr) for s in samples) if samples else None

    mine = median("minimake", "seconds")
    lines = [title, f"  {'tool':<9} {'wall s':>9} {'peak RSS MiB':>13} {'minimake/tool':>14}"]
    for tool in results:
        wall = median(tool, "seconds")
        if wall is None:
            lines.append(f"  {tool:<9} {'n/a':>9} {'n/a':>13} {'n/a':>14}")
            continue
        rss = median(tool, "rss_kib") / 1024
        ratio = f"{mine / wall:.2f}" if mine is not None and tool != "minimake" else ""
        lines.append(f"  {tool:<9} {wall:>9.3f} {rss:>13.1f} {ratio:>14}")
    if ideal is not None:
        for tool in results:
            wall = median(tool, "seconds")
            if wall is not None:
                lines.append(f"  {tool}: {wall / ideal:.3f}x the ideal {ideal:.1f} s")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="200 / 1,000 tasks instead of 1,000 / 10,000")
    add("--reps", type=int, default=None, help="repetitions per figure (default 5, quick 3)")
    add("--tools", default=",".join(TOOLS), help=f"comma separated subset of {TOOLS}")
    add("--workdir", type=Path, default=None, help="where to build (default: a temp dir)")
    options = parser.parse_args(argv)

    tools = tuple(t for t in options.tools.split(",") if t)
    unknown = [t for t in tools if t not in TOOLS]
    missing = [t for t in tools if t != "minimake" and shutil.which(t) is None]
    if unknown or missing:
        parser.error(f"unknown tools {unknown}, not installed {missing}")
    n_indep, n_dag = (200, 1_000) if options.quick else (1_000, 10_000)
    n_sleep = 20 if options.quick else 100
    reps = options.reps or (3 if options.quick else 5)

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="minimake-bench-", dir=options.workdir) as tmp:
        work = Path(tmp)
        zero = startup(work, reps, tools)
        progress(f"(a) {n_indep} independent tasks, {reps} reps ...")
        a = independent(work, n_indep, reps, tools)
        progress(f"(b)+(c) {n_dag}-task DAG, {reps} reps ...")
        b, c = null_and_dry_run(work, n_dag, reps, tools, progress)
        progress(f"(d) {n_dag}-task DAG from clean, {reps} reps ...")
        d = full_build(work, n_dag, reps, tools)
        progress(f"(e) {n_sleep} recipes of 0.1 s, {reps} reps ...")
        e = sleepers(work, n_sleep, reps, tools)

    versions = _versions(tools)
    lines = [
        f"minimake engine benchmark ({'quick' if options.quick else 'full'}; medians of {reps};"
        f" {os.cpu_count()} CPUs; Python {sys.version.split()[0]})",
        "  " + "; ".join(versions),
        "",
        *report("(0) start-up only: --version", zero),
        "",
        *report(f"(a) {n_indep} independent `touch out/N` tasks, -j2, from clean", a),
        "",
        *report(f"(b) null build, {n_dag}-task random DAG", b),
        "",
        *report(f"(c) -n, {n_dag}-task random DAG, every task stale (doit: no dry run)", c),
        "",
        *report(f"(d) full build, {n_dag}-task random DAG, -j2, from clean", d),
        "",
        *report(f"(e) {n_sleep} recipes of `sleep 0.1`, -j2", e, ideal=n_sleep * 0.05),
    ]
    print("\n".join(lines))
    return 0


def _versions(tools: tuple[str, ...]) -> list[str]:
    commands = {
        "make": ["make", "--version"],
        "ninja": ["ninja", "--version"],
        "doit": ["doit", "--version"],
        "minimake": minimake_cmd("--version"),
    }
    out = []
    for tool in tools:
        try:
            text = subprocess.run(
                commands[tool], capture_output=True, text=True, env=ENV, check=False, timeout=60
            ).stdout
        except OSError:
            text = ""
        first = text.strip().splitlines()[0] if text.strip() else "?"
        out.append(f"{tool}: {first}")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
