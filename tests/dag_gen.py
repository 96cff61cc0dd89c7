"""Seeded random task graphs, rendered as a Makefile, a tasks.py, a build.ninja and a dodo.py.

One `Graph` is the single description; every renderer reads it, so the differential test
(`tests/test_differential.py`) and the benchmark (`bench/engine_bench.py`) feed GNU make, ninja,
doit and minimake the very same DAG. Nothing here depends on minimake itself.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOG = "log.txt"
"""The file every differential recipe appends its task name to; never part of the graph."""

BASE_NS = 1_000_000_000 * 10**9
"""Explicit mtimes start here (2001-09-09): far older than any file a recipe writes now."""

STEP_NS = 10 * 10**9
"""Explicit mtimes are this far apart (10 s), well above any file system's granularity."""

TOUCH_NS = BASE_NS + 1_000_000 * 10**9
"""'Touched' files get explicit times from here on: newer than every initial stamp, still old."""


@dataclass(frozen=True)
class Node:
    """A task: its targets (the first is its name), deps, order-only deps and recipe lines."""

    targets: tuple[str, ...]
    deps: tuple[str, ...] = ()
    order_only: tuple[str, ...] = ()
    recipe: tuple[str, ...] = ()
    phony: bool = False
    kind: str = "write"
    """How the recipe treats its target (differential graphs): write, lines, lazy, fail, ..."""

    @property
    def name(self) -> str:
        return self.targets[0]


@dataclass(frozen=True)
class Graph:
    """A DAG of tasks over plain source files, with one phony default goal."""

    sources: tuple[str, ...]
    nodes: tuple[Node, ...]
    """In declaration order (not necessarily topological)."""
    goal: str = "all"

    def by_name(self) -> dict[str, Node]:
        return {n.name: n for n in self.nodes}

    def producers(self) -> dict[str, Node]:
        """Map every target file (and phony name) to the node that makes it."""
        return {t: n for n in self.nodes for t in n.targets}

    def files(self) -> list[str]:
        """Every plain file the graph may hold: sources, then non-phony targets."""
        return [*self.sources, *(t for n in self.nodes if not n.phony for t in n.targets)]

    def topo_order(self) -> list[Node]:
        """Nodes with every dep's producer (normal or order-only) before its dependents."""
        producers = self.producers()
        done: set[str] = set()
        order: list[Node] = []

        def visit(node: Node) -> None:
            # Iterative enough for the differential sizes; the bench uses generated order.
            stack = [(node, iter((*node.deps, *node.order_only)))]
            while stack:
                current, pending = stack[-1]
                for dep in pending:
                    child = producers.get(dep)
                    if child is not None and child.name not in done:
                        stack.append((child, iter((*child.deps, *child.order_only))))
                        break
                else:
                    stack.pop()
                    if current.name not in done:
                        done.add(current.name)
                        order.append(current)

        for node in self.nodes:
            visit(node)
        return order

    def descendants(self, names: Iterable[str]) -> set[str]:
        """Names of the nodes that need the given ones, transitively (normal and order-only)."""
        producers = self.producers()
        users: dict[str, set[str]] = {}
        for node in self.nodes:
            for dep in (*node.deps, *node.order_only):
                if dep in producers:
                    users.setdefault(producers[dep].name, set()).add(node.name)
        seen: set[str] = set()
        todo = [producers[n].name for n in names if n in producers]
        while todo:
            for user in users.get(todo.pop(), ()):
                if user not in seen:
                    seen.add(user)
                    todo.append(user)
        return seen

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """Names of the nodes the given ones depend on, transitively (normal and order-only)."""
        producers = self.producers()
        seen: set[str] = set()
        todo = [producers[n].name for n in names if n in producers]
        while todo:
            node = self.by_name()[todo.pop()]
            for dep in (*node.deps, *node.order_only):
                child = producers.get(dep)
                if child is not None and child.name not in seen:
                    seen.add(child.name)
                    todo.append(child.name)
        return seen


# --------------------------------------------------------------------------------------------
# Random graphs for the differential test


def _recipe(name: str, kind: str) -> tuple[str, ...]:
    """One-line recipes (so `-n` echoes match), except kind 'lines' which is two lines."""
    log = f"echo {name} >> {LOG}"
    recipes = {
        "write": (f"{log} && echo {name} > {name}",),
        "lines": (log, f"echo {name} > {name}"),
        # Restat: an existing target is left untouched, so its dependents are not forced.
        "lazy": (f"{log} && test -e {name} || echo {name} > {name}",),
        # Never writes its target: make reruns it and its dependents every time.
        "nowrite": (log,),
        "fail": (f"{log} && exit 3",),
        # A list stops at its first failing line: the target is never written.
        "faillines": (log, "exit 3", f"echo {name} > {name}"),
        # Writes a partial target, then fails: .DELETE_ON_ERROR removes it.
        "failpartial": (f"{log} && echo partial > {name} && exit 3",),
        "phony": (log,),
        # Two targets made by one recipe (make's grouped targets, `a b &: deps`).
        "group": (f"{log} && echo {name} > {name} && echo {name} > {name}x",),
    }
    return recipes[kind]


def random_dag(
    rng: random.Random,
    n_tasks: int | None = None,
    *,
    fail: bool = False,
    allow_nowrite: bool = True,
    allow_phony: bool = True,
    allow_group: bool = True,
    kind_weights: tuple[int, int, int] = (6, 2, 2),
) -> Graph:
    """A random DAG of 5-25 file tasks over 1-5 sources, plus the phony goal 'all'.

    Fan-in up to 4, some order-only deps, two-line and 'lazy' (restat) recipes (mixed by
    `kind_weights`: write, lines, lazy), rarely a recipe that never writes its target or a phony
    task in the middle; with `fail`, exactly one recipe exits 3.
    """
    if n_tasks is None:
        n_tasks = rng.randint(5, 25)
    sources = [f"s{i:02d}" for i in range(rng.randint(1, 5))]
    names = [f"t{i:02d}" for i in range(n_tasks)]
    kinds = {n: rng.choices(["write", "lines", "lazy"], weights=kind_weights)[0] for n in names}
    if allow_nowrite and rng.random() < 0.2:
        kinds[rng.choice(names)] = "nowrite"
    phony_mid: set[str] = set()
    if allow_phony and n_tasks >= 6 and rng.random() < 0.25:
        phony_mid.add(rng.choice(names[2:-1]))
    if fail:
        kinds[rng.choice(names)] = rng.choice(["fail", "failpartial", "faillines"])
    group = None
    if allow_group and rng.random() < 0.3:
        plain = [n for n in names if kinds[n] in {"write", "lines", "lazy"} and n not in phony_mid]
        group = rng.choice(plain) if plain else None
        if group is not None:
            kinds[group] = "group"

    nodes: list[Node] = []
    for i, name in enumerate(names):
        pool = sources + names[:i] + ([f"{group}x"] if group in names[:i] else [])
        k = rng.choices([0, 1, 2, 3, 4], weights=[1, 4, 4, 2, 1])[0]
        deps = rng.sample(pool, min(k, len(pool)))
        rest = [p for p in names[:i] + sources if p not in deps]
        order_only = rng.sample(rest, 1) if rest and rng.random() < 0.15 else []
        if name in phony_mid:
            if not deps and i:
                deps = [names[i - 1]]
            nodes.append(
                Node(
                    (name,),
                    tuple(deps),
                    tuple(order_only),
                    _recipe(name, "phony"),
                    phony=True,
                    kind="phony",
                )
            )
        else:
            targets = (name, f"{name}x") if name == group else (name,)
            nodes.append(
                Node(
                    targets,
                    tuple(deps),
                    tuple(order_only),
                    _recipe(name, kinds[name]),
                    kind=kinds[name],
                )
            )
    used = {d for n in nodes for d in (*n.deps, *n.order_only)}
    # Every target nothing else needs (both members of a grouped pair included) goes under 'all'.
    sinks = [t for n in nodes for t in n.targets if t not in used]
    extra = [n for n in names if n not in sinks and rng.random() < 0.1]
    rng.shuffle(nodes)  # declaration order must not matter
    goal = Node(("all",), tuple(sinks + extra), phony=True, kind="goal")
    return Graph(tuple(sources), (goal, *nodes))


# --------------------------------------------------------------------------------------------
# Large graphs for the benchmark


def bench_dag(n_tasks: int, seed: int = 0, n_sources: int | None = None) -> Graph:
    """`n_tasks` tasks `t/N`, each with 1-3 deps on earlier tasks or sources `src/N`, recipe touch.

    Every task reaches a source, so touching all sources makes every task stale.
    """
    rng = random.Random(seed)
    if n_sources is None:
        n_sources = max(1, n_tasks // 100)
    sources = [f"src/{i}" for i in range(n_sources)]
    nodes = []
    for i in range(n_tasks):
        name = f"t/{i}"
        pool_size = n_sources + i
        k = min(rng.randint(1, 3), pool_size)
        picks = rng.sample(range(pool_size), k)
        deps = tuple(sources[p] if p < n_sources else f"t/{p - n_sources}" for p in picks)
        nodes.append(Node((name,), deps, recipe=(f"touch {name}",)))
    used = {d for n in nodes for d in n.deps}
    sinks = tuple(n.name for n in nodes if n.name not in used)
    goal = Node(("all",), sinks, phony=True, kind="goal")
    return Graph(tuple(sources), (goal, *nodes))


def scatter_gather(n_tasks: int) -> Graph:
    """A prep step, `n_tasks` tasks `out/N` each reading its source `src/N` and the prep's
    output, and a collate over all of them: the shape of a sweep over many samples."""
    sources = ("data.csv", *(f"src/{i}" for i in range(n_tasks)))
    prep = Node(("prep.out",), ("data.csv",), recipe=("touch prep.out",))
    scatter = [
        Node((f"out/{i}",), (f"src/{i}", "prep.out"), recipe=(f"touch out/{i}",))
        for i in range(n_tasks)
    ]
    collate = Node(("results.csv",), tuple(n.name for n in scatter), recipe=("touch results.csv",))
    goal = Node(("all",), ("results.csv",), phony=True, kind="goal")
    return Graph(sources, (goal, prep, *scatter, collate))


def independent_tasks(n_tasks: int) -> Graph:
    """`n_tasks` unrelated tasks `touch out/N` (the `out/` folder must exist) under 'all'."""
    nodes = [Node((f"out/{i}",), recipe=(f"touch out/{i}",)) for i in range(n_tasks)]
    goal = Node(("all",), tuple(n.name for n in nodes), phony=True, kind="goal")
    return Graph((), (goal, *nodes))


# --------------------------------------------------------------------------------------------
# Renderers


def to_makefile(graph: Graph) -> str:
    """GNU make: goal first (so it is the default), .PHONY, .DELETE_ON_ERROR, grouped `&:`."""
    phony = [n.name for n in graph.nodes if n.phony]
    out = [".DELETE_ON_ERROR:", f".PHONY: {' '.join(phony)}", ""]
    ordered = sorted(graph.nodes, key=lambda n: n.name != graph.goal)
    for node in ordered:
        colon = "&:" if len(node.targets) > 1 else ":"
        head = f"{' '.join(node.targets)} {colon}".replace(" :", ":")
        if node.deps:
            head += " " + " ".join(node.deps)
        if node.order_only:
            head += " | " + " ".join(node.order_only)
        out.append(head)
        out.extend(f"\t{line}" for line in node.recipe)
    return "\n".join(out) + "\n"


def to_tasks_py(graph: Graph, *, loop: bool = False) -> str:
    """minimake's tasks.py: one task()/phony() call per node, or a data table and a loop."""
    out = ["from minimake import phony, task", ""]
    if loop:
        rows = [
            (n.name, list(n.deps), n.recipe[0] if len(n.recipe) == 1 else list(n.recipe))
            for n in graph.nodes
            if not n.phony
        ]
        out.append("GRAPH = [")
        out.extend(f"    {row!r}," for row in rows)
        out += [
            "]",
            "",
            "for name, deps, recipe in GRAPH:",
            "    task(name, deps=deps, recipe=recipe)",
            "",
        ]
    for node in graph.nodes:
        if node.phony:
            args = [repr(node.name), f"deps={list(node.deps)!r}"]
            if node.order_only:
                args.append(f"order_only={list(node.order_only)!r}")
            if node.recipe:
                args.append(f"recipe={_recipe_arg(node.recipe)}")
            if node.name == graph.goal:
                args.append("default=True")
            out.append(f"phony({', '.join(args)})")
        elif not loop:
            target = repr(node.name) if len(node.targets) == 1 else repr(list(node.targets))
            args = [target, f"deps={list(node.deps)!r}"]
            if node.order_only:
                args.append(f"order_only={list(node.order_only)!r}")
            args.append(f"recipe={_recipe_arg(node.recipe)}")
            out.append(f"task({', '.join(args)})")
    return "\n".join(out) + "\n"


def _recipe_arg(recipe: tuple[str, ...]) -> str:
    return repr(recipe[0]) if len(recipe) == 1 else repr(list(recipe))


def _ninja_escape_path(path: str) -> str:
    return path.replace("$", "$$").replace(" ", "$ ").replace(":", "$:")


def to_ninja(graph: Graph) -> str:
    """ninja: one generic rule, the command per edge; phony nodes become phony edges."""
    out = ["rule cmd", "  command = $cmd", ""]
    for node in graph.nodes:
        outs = " ".join(map(_ninja_escape_path, node.targets))
        ins = " ".join(map(_ninja_escape_path, node.deps))
        oo = " || " + " ".join(map(_ninja_escape_path, node.order_only)) if node.order_only else ""
        if node.phony:
            out.append(f"build {outs}: phony {ins}{oo}")
            continue
        out.append(f"build {outs}: cmd {ins}{oo}")
        out.append("  cmd = " + " && ".join(node.recipe).replace("$", "$$"))
    out.append(f"default {graph.goal}")
    return "\n".join(out) + "\n"


def to_dodo(graph: Graph) -> str:
    """doit: a data table and one task generator; 'all' depends on the group."""
    rows = [
        (n.name, list(n.deps), list(n.targets), list(n.recipe)) for n in graph.nodes if not n.phony
    ]
    out = [
        "DOIT_CONFIG = {'verbosity': 0}",
        "",
        "GRAPH = [",
        *(f"    {row!r}," for row in rows),
        "]",
        "",
        "",
        "def task_t():",
        "    for name, deps, targets, actions in GRAPH:",
        "        yield {'name': name, 'actions': actions, 'file_dep': deps, 'targets': targets}",
        "",
    ]
    return "\n".join(out) + "\n"


def write_build_files(graph: Graph, root: Path, *, loop: bool = False) -> None:
    """Write Makefile, tasks.py, build.ninja and dodo.py for `graph` into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "Makefile").write_text(to_makefile(graph))
    (root / "tasks.py").write_text(to_tasks_py(graph, loop=loop))
    (root / "build.ninja").write_text(to_ninja(graph))
    (root / "dodo.py").write_text(to_dodo(graph))


# --------------------------------------------------------------------------------------------
# File states: which files exist, with which explicit mtimes


@dataclass
class State:
    """Plain files to create, each with an explicit mtime in ns (None: the file is absent)."""

    mtimes: dict[str, int | None] = field(default_factory=dict)

    def write(self, root: Path) -> None:
        """Create (or delete) every file with its explicit mtime."""
        for name, mtime in self.mtimes.items():
            path = root / name
            if mtime is None:
                path.unlink(missing_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name + "\n")
            os.utime(path, ns=(mtime, mtime))


def built_state(graph: Graph) -> State:
    """Everything exists, each target newer than its deps: the state after a full build."""
    mtimes: dict[str, int | None] = {}
    for i, name in enumerate(graph.sources):
        mtimes[name] = BASE_NS + i * STEP_NS
    step = len(mtimes)
    for node in graph.topo_order():
        if node.phony:
            continue
        for target in node.targets:
            mtimes[target] = BASE_NS + step * STEP_NS
        step += 1
    return State(mtimes)


def clean_state(graph: Graph) -> State:
    """Only the sources exist."""
    state = built_state(graph)
    for name in graph.files()[len(graph.sources) :]:
        state.mtimes[name] = None
    return state


def random_state(graph: Graph, rng: random.Random) -> State:
    """Random existence and random (sometimes equal) explicit mtimes for every target."""
    state = built_state(graph)
    files = graph.files()
    for name in files[len(graph.sources) :]:
        exists = rng.random() < 0.75
        state.mtimes[name] = BASE_NS + rng.randrange(len(files)) * STEP_NS if exists else None
    return state


def perturb(
    graph: Graph, state: State, rng: random.Random, *, delete_sources: bool = False
) -> list[str]:
    """Touch 1-3 files (explicit later mtimes) and delete 0-2 targets; return what changed."""
    files = [f for f, m in state.mtimes.items() if m is not None]
    targets = [f for f in graph.files()[len(graph.sources) :] if state.mtimes.get(f) is not None]
    changed = []
    for j, name in enumerate(rng.sample(files, min(len(files), rng.randint(1, 3)))):
        state.mtimes[name] = TOUCH_NS + j * STEP_NS
        changed.append(f"touch {name}")
    for name in rng.sample(targets, min(len(targets), rng.randint(0, 2))):
        state.mtimes[name] = None
        changed.append(f"rm {name}")
    if delete_sources:
        name = rng.choice(graph.sources)
        state.mtimes[name] = None
        changed.append(f"rm {name}")
    return changed


def snapshot(root: Path, names: Iterable[str]) -> dict[str, int | None]:
    """mtime_ns of each named file under root (None if absent)."""
    out: dict[str, int | None] = {}
    for name in names:
        try:
            out[name] = os.stat(root / name).st_mtime_ns
        except FileNotFoundError:
            out[name] = None
    return out


def changed_files(before: Mapping[str, int | None], after: Mapping[str, int | None]) -> set[str]:
    return {name for name in before if before[name] != after.get(name)}


def iter_lines(text: str) -> Iterator[str]:
    return (line for line in text.splitlines() if line.strip())
