"""Benchmark minimake's engine beside GNU make, ninja and doit on the same generated graphs.

Scenarios (sizes shrink with --quick), after (0) the start-up cost alone (`--version`, and a
10-task null build beside `python -c "import networkx"`):
  (a) N independent trivial shell tasks (`touch out/N`) at -j2 from clean;
  (b) the null build of a random DAG of M tasks (1-3 deps each on earlier nodes), all files
      pre-created with increasing explicit mtimes;
  (c) `-n` on the same DAG with every task stale (doit has no dry run: n/a);
  (d) the same DAG built from clean at -j2;
  (e) 100 recipes of `sleep 0.1` at -j2, also as a ratio to the ideal 5.0 s;
  (f) a scatter/gather (a prep step, N tasks each reading its own source and the prep's output,
      a collate over all) at 1,000 to 100,000 tasks: the null build, `-n` from clean and
      minimake's `--list`, to show how time and memory grow.

Whole processes are timed (wall clock, perf_counter) and their peak RSS read with
/usr/bin/time (or wait4()). Repetitions are interleaved (tool by tool within each round) and
each figure is their median, so a burst of load on a shared machine hits every tool alike.
A run past --limit seconds is stopped and reported as "timed out" (make is quadratic in a long
prerequisite list). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
import dag_gen  # noqa: E402

TOOLS = ("minimake", "make", "ninja", "doit")
TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None

# Python's default, as a user has it: compiled tasks.py and modules are cached in __pycache__
# (a shell that sets PYTHONDONTWRITEBYTECODE would make every run compile them again).
_DROPPED = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONDONTWRITEBYTECODE"}
ENV = {k: v for k, v in os.environ.items() if k not in _DROPPED}
ENV["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


@dataclass
class Sample:
    """One timed process: wall seconds, peak RSS in KiB, exit code and its output file."""

    seconds: float
    rss_kib: int
    rc: int
    output: str
    timed_out: bool = False


def timed(cmd: list[str], cwd: Path, limit: float | None = None) -> Sample:
    """Run `cmd` in `cwd`, stdout+stderr to a file; wall time and peak RSS.

    The peak RSS comes from /usr/bin/time (GNU time's %M): a child forked from this Python
    process would report the parent's pages in its high-water mark even after exec. Without
    /usr/bin/time, wait4()'s ru_maxrss is used, which overstates small tools by that amount.
    After `limit` seconds the whole process group is killed and the sample is marked
    timed out.
    """
    log = cwd / ".bench-output"
    rss_file = cwd / ".bench-rss"
    wrapper = [TIME, "-f", "%M", "-o", str(rss_file)] if TIME else []
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*wrapper, *cmd],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ENV,
            start_new_session=True,
        )
        watchdog = None
        if limit is not None:
            watchdog = threading.Timer(limit, _kill_group, (proc.pid,))
            watchdog.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if watchdog is not None:
            watchdog.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    timed_out = limit is not None and seconds >= limit
    rss_kib = usage.ru_maxrss  # KiB on Linux
    if TIME and rss_file.exists():
        words = rss_file.read_text().split()
        rss_kib = int(words[-1]) if words and words[-1].isdigit() else rss_kib
        rss_file.unlink()
    return Sample(seconds, rss_kib, proc.returncode, log.read_text(errors="replace"), timed_out)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


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
Commands = Mapping[str, list[str]]  # what each tool runs, by the name its figures go under


def startup(work: Path, reps: int, tools: tuple[str, ...]) -> Results:
    """`--version`: the fixed cost of starting each tool, for reading the other figures; for
    minimake also a 10-task null build, beside Python importing networkx (the floor)."""
    root = work / "startup"
    root.mkdir()
    project = write_tree(dag_gen.bench_dag(10), work / "startup-10", None)
    dag_gen.built_state(dag_gen.bench_dag(10)).write(project)
    commands: dict[str, tuple[list[str], Path]] = {
        "python+networkx": ([sys.executable, "-c", "import networkx"], root)
    }
    for tool in tools:
        if tool == "minimake":
            commands["minimake"] = (minimake_cmd("--version"), root)
            commands["minimake null 10"] = (minimake_cmd(), project)
        else:
            commands[tool] = ([tool, "--version"], root)
    results: Results = {name: [] for name in commands}
    for _ in range(reps):  # interleaved, so load hits every command alike
        for name, (command, cwd) in commands.items():
            results[name].append(_expect(timed(command, cwd), name, "start-up"))  # type: ignore[union-attr]
    return results


def independent(work: Path, n_tasks: int, reps: int, commands: Commands) -> Results:
    graph = dag_gen.independent_tasks(n_tasks)
    results: Results = {tool: [] for tool in commands}
    for rep in range(reps):  # interleaved: one run of each tool per round
        for tool, command in commands.items():
            root = write_tree(graph, work / f"a-{tool}-{rep}", None)
            (root / "out").mkdir()
            sample = timed(command, root)
            _expect(sample, tool, "(a)")
            built = len(os.listdir(root / "out"))
            if built != n_tasks:
                raise SystemExit(f"(a) {tool} built {built} of {n_tasks} files:\n{sample.output}")
            results[tool].append(sample)  # type: ignore[union-attr]
            shutil.rmtree(root)
    return results


def full_build(work: Path, n_tasks: int, reps: int, commands: Commands) -> Results:
    """The random DAG of (b) built from clean at -j2: only the sources exist."""
    graph = dag_gen.bench_dag(n_tasks, seed=1)
    state = dag_gen.clean_state(graph)
    targets = [node.name for node in graph.nodes if not node.phony]
    results: Results = {tool: [] for tool in commands}
    for rep in range(reps):  # interleaved: one run of each tool per round
        for tool, command in commands.items():
            root = write_tree(graph, work / f"d-{tool}-{rep}", state)
            (root / "t").mkdir(exist_ok=True)
            sample = _expect(timed(command, root), tool, "(d)")
            missing = [name for name in targets if not (root / name).exists()]
            if missing:
                raise SystemExit(f"(d) {tool} left {len(missing)} targets unbuilt")
            results[tool].append(sample)  # type: ignore[union-attr]
            shutil.rmtree(root)
    return results


def sleepers(work: Path, n_tasks: int, reps: int, commands: Commands) -> Results:
    """`n_tasks` recipes of `sleep 0.1` at -j2: the ideal is n_tasks * 0.05 s, the rest is the
    runner's own cost per task, which a build of short recipes pays over and over."""
    nodes = [
        dag_gen.Node((f"out/{i}",), recipe=("sleep 0.1", f"touch out/{i}")) for i in range(n_tasks)
    ]
    goal = dag_gen.Node(("all",), tuple(n.name for n in nodes), phony=True, kind="goal")
    graph = dag_gen.Graph((), (goal, *nodes))
    results: Results = {tool: [] for tool in commands}
    for rep in range(reps):  # interleaved: one run of each tool per round
        for tool, command in commands.items():
            root = write_tree(graph, work / f"e-{tool}-{rep}", None)
            (root / "out").mkdir()
            sample = _expect(timed(command, root), tool, "(e)")
            results[tool].append(sample)  # type: ignore[union-attr]
            shutil.rmtree(root)
    return results


# Each tool's build at -j2, for (a), (d) and (e).
JOBS2 = {
    "minimake": minimake_cmd("-j2"),
    "make": ["make", "-j2"],
    "ninja": ["ninja", "-j2"],
    "doit": ["doit", "-n", "2"],
}


# Each tool's null build, for (b) and (f), and its -n (doit has none).
NULL = {"minimake": minimake_cmd(), "make": ["make"], "ninja": ["ninja"], "doit": ["doit"]}
DRY = {"minimake": minimake_cmd("-n"), "make": ["make", "-n"], "ninja": ["ninja", "-n"]}


def null_and_dry_run(
    work: Path,
    n_tasks: int,
    reps: int,
    null_commands: Commands,
    dry_commands: Commands,
    progress: Callable[[str], None],
    limit: float | None = None,
) -> tuple[Results, Results]:
    """(b) and (c) on one tree that every tool reads (none writes in a null build or `-n`):
    each of ``null_commands`` in (b), and in (c) those of them in ``dry_commands``."""
    graph = dag_gen.bench_dag(n_tasks, seed=1)
    root = write_tree(graph, work / "b", dag_gen.built_state(graph))
    write_ninja_log(graph, root)
    if "doit" in null_commands:
        progress("    doit: reset-dep to fill .doit.db (untimed)")
        _expect(timed(["doit", "reset-dep"], root), "doit", "(b) warm-up")
    null: Results = {tool: [] for tool in null_commands}
    dry: Results = {tool: ([] if tool in dry_commands else None) for tool in null_commands}
    forever = limit if limit is not None else 1e9
    _rounds(null, dict(null_commands), root, reps, forever, _expect_null)

    time.sleep(0.05)  # past the coarse clock tick of the last file written
    touch_sources(graph, root)

    def dry_ok(sample: Sample, tool: str) -> Sample:
        return _expect_dry(sample, tool, n_tasks)

    dry_tools = {t: dry_commands[t] for t in null_commands if t in dry_commands}
    _rounds(dry, dry_tools, root, reps, forever, dry_ok)
    shutil.rmtree(root)
    return null, dry


def scatter_gather(
    work: Path,
    sizes: list[int],
    reps: int,
    tools: tuple[str, ...],
    limit: float,
    progress: Callable[[str], None],
) -> dict[int, dict[str, Results]]:
    """(f): per size, {"null build": ..., "-n from clean": ..., "--list": ...} for each tool.

    One tree per size serves every tool (none of them writes during a null build or `-n`):
    built with increasing explicit mtimes, ninja's log and doit's state filled in untimed; for
    `-n` from clean the outputs are moved aside. A tool that runs past `limit` seconds is
    stopped, reported as timed out and not run again at that size.
    """
    figures: dict[int, dict[str, Results]] = {}
    for n_tasks in sizes:
        progress(f"(f) scatter/gather of {n_tasks:,} tasks: writing the tree ...")
        graph = dag_gen.scatter_gather(n_tasks)
        root = write_tree(graph, work / f"d-{n_tasks}", dag_gen.built_state(graph))
        write_ninja_log(graph, root)
        ready = set(tools)
        if "doit" in tools:
            progress("    doit: reset-dep to fill .doit.db (untimed)")
            warm = timed(["doit", "reset-dep"], root, limit * 4)
            if warm.timed_out or warm.rc != 0:
                ready.discard("doit")
        null: Results = {tool: [] for tool in tools}
        dry: Results = {tool: ([] if tool != "doit" else None) for tool in tools}
        listed: Results = {"minimake": []} if "minimake" in tools else {}
        progress(f"    null builds, {reps} rounds ...")
        _rounds(null, {t: NULL[t] for t in ready}, root, reps, limit, _expect_null)
        if "doit" in tools and "doit" not in ready:
            null["doit"] = [Sample(limit * 4, 0, -9, "", timed_out=True)]
        hidden = work / f"d-{n_tasks}-outputs"
        hidden.mkdir()
        for name in ("out", "prep.out", "results.csv"):
            (root / name).rename(hidden / name)
        expected = n_tasks + 2  # the prep, each task, the collate

        def dry_ok(sample: Sample, tool: str, expected: int = expected) -> Sample:
            return _expect_dry(sample, tool, expected, "touch ")

        progress(f"    -n from clean, {reps} rounds ...")
        dry_tools = {t: DRY[t] for t in ready if t in DRY}
        _rounds(dry, dry_tools, root, reps, limit, dry_ok)
        if listed:
            progress(f"    minimake --list, {reps} rounds ...")
            _rounds(listed, {"minimake": minimake_cmd("--list")}, root, reps, limit, _expect)
        figures[n_tasks] = {"null build": null, "-n from clean": dry, "--list": listed}
        shutil.rmtree(root)
        shutil.rmtree(hidden)
    return figures


def _rounds(
    results: Results,
    commands: dict[str, list[str]],
    root: Path,
    reps: int,
    limit: float,
    check: Callable[[Sample, str], Sample],
) -> None:
    """Run every command `reps` times, one of each per round; a timed-out tool stops."""
    stopped: set[str] = set()
    for _ in range(reps):
        for tool, command in commands.items():
            if tool in stopped:
                continue
            sample = timed(command, root, limit)
            if sample.timed_out:
                stopped.add(tool)
            else:
                check(sample, tool)
            results[tool].append(sample)  # type: ignore[union-attr]


def write_ninja_log(graph: dag_gen.Graph, root: Path) -> None:
    """ninja's .ninja_log for a tree built by `State.write`, as if ninja had built it: with no
    entry ninja rebuilds every output, and running 100,000 `touch` commands to get one would
    take longer than everything measured."""
    lines = ["# ninja log v5"]
    for node in graph.nodes:
        if node.phony:
            continue
        command = " && ".join(node.recipe)
        digest = _murmur64a(command.encode())
        for target in node.targets:
            mtime = os.stat(root / target).st_mtime_ns
            lines.append(f"0\t1\t{mtime}\t{target}\t{digest:x}")
    (root / ".ninja_log").write_text("\n".join(lines) + "\n")


def _murmur64a(data: bytes) -> int:
    """ninja's hash of a command line (MurmurHash64A, its seed), as its log stores it."""
    m, mask = 0xC6A4A7935BD1E995, (1 << 64) - 1
    h = (0xDECAFBADDECAFBAD ^ (len(data) * m)) & mask
    whole = len(data) // 8 * 8
    for index in range(0, whole, 8):
        k = (int.from_bytes(data[index : index + 8], "little") * m) & mask
        k = ((k ^ (k >> 47)) * m) & mask
        h = ((h ^ k) * m) & mask
    if data[whole:]:
        h = ((h ^ int.from_bytes(data[whole:], "little")) * m) & mask
    h = ((h ^ (h >> 47)) * m) & mask
    return h ^ (h >> 47)


def _expect(sample: Sample, tool: str, what: str = "") -> Sample:
    if sample.rc != 0:
        raise SystemExit(f"{what}: {tool} exited {sample.rc}:\n{sample.output[-3000:]}")
    return sample


def _expect_null(sample: Sample, tool: str) -> Sample:
    """A null build that did nothing: ninja and doit say so their way, the others as make."""
    _expect(sample, tool, "(b)")
    if tool == "ninja":
        ran = "no work to do" not in sample.output
    elif tool == "doit":
        ran = any(line.startswith(".  ") for line in sample.output.splitlines())
    else:
        ran = "Nothing to be done" not in sample.output
    if ran:
        raise SystemExit(f"(b) {tool}: the null build did work:\n{sample.output[:3000]}")
    return sample


def _expect_dry(sample: Sample, tool: str, n_tasks: int, echo: str = "touch t/") -> Sample:
    _expect(sample, tool, "(c)")
    lines = sum(echo in line for line in sample.output.splitlines())
    if lines != n_tasks:
        raise SystemExit(
            f"(c) {tool} -n listed {lines} of {n_tasks} tasks:\n{sample.output[:3000]}"
        )
    return sample


# --------------------------------------------------------------------------------------------
# Report


def _median(samples: list[Sample] | None, attr: str) -> float | None:
    if not samples or any(sample.timed_out for sample in samples):
        return None
    return statistics.median(getattr(sample, attr) for sample in samples)


def _wall(samples: list[Sample] | None) -> str:
    if samples is None:
        return "n/a"
    if any(sample.timed_out for sample in samples):
        return f">{samples[0].seconds:.0f} timed out"
    return f"{_median(samples, 'seconds'):.3f}"


def report(title: str, results: Results, ideal: float | None = None) -> list[str]:
    mine = _median(results.get("minimake"), "seconds")
    width = max(9, *(len(tool) for tool in results))
    head = f"  {'tool':<{width}} {'wall s':>14} {'peak RSS MiB':>13} {'minimake/tool':>14}"
    lines = [title, head]
    for tool, samples in results.items():
        wall = _median(samples, "seconds")
        rss = _median(samples, "rss_kib")
        ratio = f"{mine / wall:.2f}" if mine and wall and tool in TOOLS[1:] else ""
        shown_rss = f"{rss / 1024:.1f}" if rss else "n/a"
        lines.append(f"  {tool:<{width}} {_wall(samples):>14} {shown_rss:>13} {ratio:>14}")
    if ideal is not None:
        for tool, samples in results.items():
            wall = _median(samples, "seconds")
            if wall is not None:
                lines.append(f"  {tool}: {wall / ideal:.3f}x the ideal {ideal:.1f} s")
    return lines


def startup_report(results: Results) -> list[str]:
    lines = report("(0) start-up: --version, and minimake's null build of 10 tasks", results)
    floor = _median(results.get("python+networkx"), "seconds")
    for name in ("minimake", "minimake null 10"):
        mine = _median(results.get(name), "seconds")
        if floor is not None and mine is not None:
            extra = f"{mine - floor:+.3f} s (goal: at most +0.050)"
            lines.append(f"  {name} - python+networkx: {extra}")
    return lines


def curve_report(figures: dict[int, dict[str, Results]]) -> list[str]:
    lines = ["(f) scatter/gather (prep, N tasks of one source + the prep's output, a collate)"]
    for n_tasks, kinds in figures.items():
        for kind in ("null build", "-n from clean"):
            lines += ["", *report(f"  {n_tasks:,} tasks, {kind}", kinds[kind])]
    lines += [
        "",
        "  minimake per task: over the whole run, and for each task added since the size before",
    ]
    head = f"  {'tasks':>9} {'null µs':>9} {'-n µs':>9} {'--list µs':>10} {'null RSS MiB':>13}"
    lines.append(head + f" {'added: null µs':>15} {'-n µs':>7} {'RSS KiB':>8}")
    before: tuple[int, list[float | None], float | None] | None = None
    for n_tasks, kinds in figures.items():
        walls = [
            _median(kinds[kind].get("minimake"), "seconds")
            for kind in ("null build", "-n from clean", "--list")
        ]
        rss = _median(kinds["null build"].get("minimake"), "rss_kib")
        row = [f"{wall / n_tasks * 1e6:.1f}" if wall else "-" for wall in walls]
        shown = f"{rss / 1024:.1f}" if rss else "-"
        added = ["-", "-", "-"]
        if before is not None:
            size, old, old_rss = before
            more = n_tasks - size
            for index in (0, 1):
                if walls[index] and old[index]:
                    added[index] = f"{(walls[index] - old[index]) / more * 1e6:.1f}"
            if rss and old_rss:
                added[2] = f"{(rss - old_rss) / more:.2f}"
        before = (n_tasks, walls, rss)
        lines.append(
            f"  {n_tasks:>9,} {row[0]:>9} {row[1]:>9} {row[2]:>10} {shown:>13}"
            f" {added[0]:>15} {added[1]:>7} {added[2]:>8}"
        )
    return lines


def _options(argv: list[str] | None) -> tuple[argparse.Namespace, tuple[str, ...]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="200 / 1,000 tasks instead of 1,000 / 10,000")
    add("--reps", type=int, default=None, help="repetitions per figure (default 5, quick 3)")
    add("--tools", default=",".join(TOOLS), help=f"comma separated subset of {TOOLS}")
    add("--workdir", type=Path, default=None, help="where to build (default: a temp dir)")
    add(
        "--sizes",
        default=None,
        help="scatter/gather sizes for (f), comma separated (default 1000,10000,50000,100000; "
        "quick 1000,10000; 0 skips it)",
    )
    add("--curve-reps", type=int, default=3, help="repetitions per figure in (f) (default 3)")
    add("--limit", type=float, default=60.0, help="seconds before a run counts as timed out")
    add("--only", default="0abcdef", help="figures to run, e.g. 0f (default all: 0abcdef)")
    options = parser.parse_args(argv)

    tools = tuple(t for t in options.tools.split(",") if t)
    unknown = [t for t in tools if t not in TOOLS]
    missing = [t for t in tools if t != "minimake" and shutil.which(t) is None]
    if unknown or missing:
        parser.error(f"unknown tools {unknown}, not installed {missing}")
    return options, tools


def main(argv: list[str] | None = None) -> int:
    options, tools = _options(argv)
    n_indep, n_dag = (200, 1_000) if options.quick else (1_000, 10_000)
    n_sleep = 20 if options.quick else 100
    reps = options.reps or (3 if options.quick else 5)
    default_sizes = "1000,10000" if options.quick else "1000,10000,50000,100000"
    sizes = [int(n) for n in (options.sizes or default_sizes).split(",") if int(n) > 0]
    only = options.only
    builds = {tool: JOBS2[tool] for tool in tools}

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    lines = [
        f"minimake engine benchmark ({'quick' if options.quick else 'full'}; medians of {reps}"
        f" interleaved runs, {options.curve_reps} in (f); {os.cpu_count()} CPUs;"
        f" Python {sys.version.split()[0]})",
        "  " + "; ".join(_versions(tools)),
    ]
    with tempfile.TemporaryDirectory(prefix="minimake-bench-", dir=options.workdir) as tmp:
        work = Path(tmp)
        if "0" in only:
            progress(f"(0) start-up, {reps} reps ...")
            lines += ["", *startup_report(startup(work, reps, tools))]
        if "a" in only:
            progress(f"(a) {n_indep} independent tasks, {reps} reps ...")
            a = independent(work, n_indep, reps, builds)
            lines += ["", *report(f"(a) {n_indep} independent `touch out/N` tasks, -j2", a)]
        if "b" in only or "c" in only:
            progress(f"(b)+(c) {n_dag}-task DAG, {reps} reps ...")
            null_commands = {tool: NULL[tool] for tool in tools}
            b, c = null_and_dry_run(work, n_dag, reps, null_commands, DRY, progress, options.limit)
            lines += ["", *report(f"(b) null build, {n_dag}-task random DAG", b)]
            lines += ["", *report(f"(c) -n, {n_dag}-task random DAG, every task stale", c)]
        if "d" in only:
            progress(f"(d) {n_dag}-task DAG from clean, {reps} reps ...")
            d = full_build(work, n_dag, reps, builds)
            lines += ["", *report(f"(d) full build, {n_dag}-task random DAG, -j2, from clean", d)]
        if "e" in only:
            progress(f"(e) {n_sleep} recipes of 0.1 s, {reps} reps ...")
            e = sleepers(work, n_sleep, reps, builds)
            title = f"(e) {n_sleep} recipes of `sleep 0.1`, -j2"
            lines += ["", *report(title, e, ideal=n_sleep * 0.05)]
        if "f" in only and sizes:
            rounds, limit = options.curve_reps, options.limit
            figures = scatter_gather(work, sizes, rounds, tools, limit, progress)
            lines += ["", *curve_report(figures)]
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
