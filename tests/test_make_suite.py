"""GNU make's own test suite (tests/scripts in make's repository), ported and run beside make.

Each scenario is one of make's, reduced to explicit rules: a Makefile and the same graph as a
tasks.py, run step by step in two identical folders, one with the installed GNU make and one
with minimake (in-process, as in test_differential), then compared: exit codes, stdout and
stderr line by line (``make:``/``minimake:`` and the ``[Makefile:3: x]`` locations aside),
and which files each step created, changed or deleted. make's ``$@`` is ``$TARGET``, echoed
with its value as make echoes ``$@``; make's ``@`` prefix is ``silent=True`` (``-s`` in the
earlier ports; dash-k and general1 drop the ``@`` from the Makefile instead, so that the
comparison covers the echo too). With one job both run the recipes in the same order, make's
walk from the goals. Where minimake differs on purpose the scenario says why and the test
expects the difference (README, "How minimake decides, and where it differs from make").

Left out, with why: every scenario built on a feature minimake has no counterpart for by design
(pattern, suffix and implicit rules, VPATH, double-colon rules, include and remaking makefiles,
variables and functions other than command-line ones, $(MAKE) recursion, MAKEFLAGS, the
jobserver, .INTERMEDIATE deletion, .IGNORE, the ``-``/``+`` line prefixes, -L,
--no-silent, -I). features/errors' commands that cannot be exec'd are compared with make in
tests/test_execution.py.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import needs_make, touch
from tests.test_differential import Run, run_make, run_minimake

pytestmark = needs_make

Op = Callable[[Path], None]


def at(path: str, seconds: int) -> Op:
    """make's utouch: ``path`` exists with a fixed old mtime (BASE + seconds)."""
    return lambda root: touch(root / path, seconds)


def now(path: str) -> Op:
    """make's touch: ``path`` exists, modified now."""

    def op(root: Path) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
        os.utime(root / path)

    return op


def ahead(path: str, seconds: int) -> Op:
    """``path`` modified ``seconds`` in the future (a clock skew)."""

    def op(root: Path) -> None:
        now(path)(root)
        stamp = time.time_ns() + seconds * 1_000_000_000
        os.utime(root / path, ns=(stamp, stamp))

    return op


def rm(*paths: str) -> Op:
    return lambda root: [(root / p).unlink(missing_ok=True) for p in paths] and None


def link(target: str, name: str) -> Op:
    return lambda root: (root / name).symlink_to(target)


def mkdir(path: str) -> Op:
    return lambda root: (root / path).mkdir(parents=True, exist_ok=True)


@dataclass
class Step:
    """One run of both tools, after ``before`` changed both folders alike."""

    args: list[str]
    before: list[Op] = field(default_factory=list)
    unordered: bool = False  # -j: compare the lines as sets, make interleaves them
    # Where minimake differs from make on purpose: why (the step must then differ).
    differs: str | None = None


@dataclass
class Scenario:
    source: str  # make's test script it comes from
    makefile: str
    tasks: str
    steps: list[Step]
    setup: list[Op] = field(default_factory=list)
    folder: str = "."  # where the Makefile and tasks.py go (dash-C: a subfolder)


T = "\t"
MISSING_FIRST = "minimake reports a missing input before it runs anything; make on reaching it"
STAT_ONCE = "make stats a file once per rule that names it, and warns each time; minimake once"
PEER_MISSING = (
    "make 4.3 leaves a grouped target whose peer is missing (make bug 62809, fixed after 4.3); "
    "minimake remakes the group, as later make does"
)
MINUS_ONE = (
    "make's option parser reads `-j -1` as options (invalid option -- '1'); minimake as a count "
    "that is not positive; both exit 2"
)
ALSO_MAKE = (
    "make 4.3's -n forgets that a grouped rule would remake its other targets (make bug 65917, "
    "fixed after 4.3); minimake prints what the real run then does"
)
OLDEST = (
    "make 4.3 judges a grouped target by itself alone; minimake by the group's oldest target, "
    "as later make does"
)

SCENARIOS: dict[str, Scenario] = {
    "dash-k: the rest is built after a missing input": Scenario(
        "options/dash-k",
        f"""\
edit: main.o kbd.o commands.o display.o
{T}echo cc -o edit main.o kbd.o commands.o display.o
main.o: main.c defs.h
{T}echo cc -c main.c
kbd.o: kbd.c defs.h command.h
{T}echo cc -c kbd.c
commands.o: command.c defs.h command.h
{T}echo cc -c commands.c
display.o: display.c defs.h buffer.h
{T}echo cc -c display.c
""",
        """\
from minimake import task
task("edit", deps=["main.o", "kbd.o", "commands.o", "display.o"],
     recipe="echo cc -o edit main.o kbd.o commands.o display.o")
task("main.o", deps=["main.c", "defs.h"], recipe="echo cc -c main.c")
task("kbd.o", deps=["kbd.c", "defs.h", "command.h"], recipe="echo cc -c kbd.c")
task("commands.o", deps=["command.c", "defs.h", "command.h"], recipe="echo cc -c commands.c")
task("display.o", deps=["display.c", "defs.h", "buffer.h"], recipe="echo cc -c display.c")
""",
        [Step(["-k"]), Step([], differs=MISSING_FIRST)],
        setup=[now(f) for f in ("main.c", "defs.h", "command.h", "command.c", "display.c")]
        + [now("buffer.h")],
    ),
    "dash-k: a goal whose deps failed is not attempted": Scenario(
        "options/dash-k",
        f"""\
all: exe1 exe2
{T}echo making all
exe1: lib
{T}echo cp lib exe1
exe2: lib
{T}echo cp lib exe2
lib: foo.o
{T}echo cp foo.o lib
foo.o:
{T}exit 1
""",
        """\
from minimake import task
task("all", deps=["exe1", "exe2"], recipe="echo making all")
task("exe1", deps=["lib"], recipe="echo cp lib exe1")
task("exe2", deps=["lib"], recipe="echo cp lib exe2")
task("lib", deps=["foo.o"], recipe="echo cp foo.o lib")
task("foo.o", recipe="exit 1")
""",
        [Step(["-k"]), Step([])],
    ),
    "dash-n: -n, -W, and -t -n": Scenario(
        "options/dash-n",
        f"""\
final: intermediate
{T}echo >> final
intermediate: orig
{T}echo >> intermediate
""",
        """\
from minimake import task
task("final", deps=["intermediate"], recipe="echo >> final")
task("intermediate", deps=["orig"], recipe="echo >> intermediate")
""",
        [Step([]), Step(["-W", "orig", "-n"]), Step(["-n"]), Step(["-t", "-n"], [rm("final")])],
        setup=[now("orig")],
    ),
    "dash-n: a recipe-less target that exists keeps its mtime": Scenario(
        "options/dash-n",
        f"""\
a: b
{T}echo > a
b: c
""",
        """\
from minimake import task
task("a", deps=["b"], recipe="echo > a")
task("b", deps=["c"])
""",
        [
            Step([]),
            Step(["-n"]),
            Step(["-q"]),
            Step(["-t"]),
            Step([], [rm("b")]),  # missing, it counts as remade
            Step(["-t", "-n"], [rm("a", "b")]),
        ],
        setup=[at("b", -20), at("a", -10), now("c")],
    ),
    "dash-n: -n with groups whose peers are deps of others": Scenario(
        "options/dash-n",
        f"""\
all: quark.q meson.q
quark.p meson.p:
{T}touch $@
quark.x quark.y &: quark.p
{T}touch quark.x quark.y
meson.x meson.y &: meson.p
{T}touch meson.x meson.y
quark.q: quark.x quark.y meson.y
{T}touch quark.q
meson.q: meson.x meson.y quark.y
{T}touch meson.q
""",
        """\
from minimake import task
task("all", deps=["quark.q", "meson.q"])
task("quark.p", recipe="touch quark.p")
task("meson.p", recipe="touch meson.p")
task(["quark.x", "quark.y"], deps=["quark.p"], recipe="touch quark.x quark.y")
task(["meson.x", "meson.y"], deps=["meson.p"], recipe="touch meson.x meson.y")
task("quark.q", deps=["quark.x", "quark.y", "meson.y"], recipe="touch quark.q")
task("meson.q", deps=["meson.x", "meson.y", "quark.y"], recipe="touch meson.q")
""",
        [Step(["-n"], differs=ALSO_MAKE), Step([])],
        setup=[
            *[at("quark.p", -12), at("quark.x", -10), at("quark.y", -10), at("meson.p", -8)],
            *[at("meson.x", -6), at("meson.y", -6), at("quark.q", -4), at("meson.q", -2)],
            now("quark.p"),
        ],
    ),
    "dash-q: exit status 0, 1 and 2": Scenario(
        "options/dash-q",
        """\
one:
three: ; :
build-stamp: ; echo build-stamp
build-arch: build-stamp
build-x: build-arch
build-y: build-x
broken-arch: build-stamp-2
broken-x: broken-arch
""",
        """\
from minimake import task
task("one")
task("three", recipe=":")
task("build-stamp", recipe="echo build-stamp")
task("build-arch", deps=["build-stamp"])
task("build-x", deps=["build-arch"])
task("build-y", deps=["build-x"])
task("broken-arch", deps=["build-stamp-2"])
task("broken-x", deps=["broken-arch"])
""",
        [
            Step(["-q", "one"]),
            Step(["-q", "three"]),
            Step(["-q", "build-y"]),
            Step(["-q", "broken-x"]),
        ],
    ),
    "dash-t: touches what is stale, never a target without a recipe": Scenario(
        "options/dash-t",
        """\
final-a: interm-a ; echo >> final-a
final-b: interm-b ; echo >> final-b
interm-a: orig1-a orig2-a ; echo >> interm-a
interm-b: orig1-b orig2-b ; echo >> interm-b
PHOOEY: xxx
xxx: ; :
""",
        """\
from minimake import task
task("final-a", deps=["interm-a"], recipe="echo >> final-a")
task("final-b", deps=["interm-b"], recipe="echo >> final-b")
task("interm-a", deps=["orig1-a", "orig2-a"], recipe="echo >> interm-a")
task("interm-b", deps=["orig1-b", "orig2-b"], recipe="echo >> interm-b")
task("PHOOEY", deps=["xxx"])
task("xxx", recipe=":")
""",
        [
            Step(["-t", "final-a", "final-b"]),
            Step(["-t", "PHOOEY"]),
            Step(["final-a"]),
        ],
        setup=[
            *[at("orig1-a", -30), at("orig2-b", -30), at("interm-a", -20)],
            *[at("interm-b", -20), at("final-a", -10), at("final-b", -10)],
            *[now("orig2-a"), now("orig1-b")],
        ],
    ),
    "dash-t: a target in a missing folder": Scenario(
        "options/dash-t",
        f"""\
sub/x:
{T}echo hi > sub/x
""",
        """\
from minimake import task
task("sub/x", recipe="echo hi > sub/x")
""",
        [Step(["-t"], differs="minimake says make's touch error in its failure form, *** [x]")],
    ),
    "dash-W: what if, with ./ and a file from the future": Scenario(
        "options/dash-W",
        f"""\
a.x: b.x
{T}echo >> a.x
b.x:
{T}echo >> b.x
""",
        """\
from minimake import task
task("a.x", deps=["b.x"], recipe="echo >> a.x")
task("b.x", recipe="echo >> b.x")
""",
        [
            Step([]),
            Step([]),
            Step(["-W", "b.x"]),
            Step(["-W", "./b.x"]),
            Step([], [ahead("a.x", 1000)]),
            Step(["-W", "b.x"]),
        ],
    ),
    "dash-B: always make, also over a file from the future": Scenario(
        "options/dash-B",
        f"""\
.PHONY: all
all: foo
foo: bar.x
{T}echo cp bar.x foo
{T}echo "" > foo
""",
        """\
from minimake import phony, task
phony("all", deps=["foo"])
task("foo", deps=["bar.x"], recipe=["echo cp bar.x foo", 'echo "" > foo'])
""",
        [Step([]), Step([]), Step(["-B"]), Step([], [ahead("foo", 1000)]), Step(["-B"])],
        setup=[now("bar.x")],
    ),
    "dash-s: silent": Scenario(
        "options/dash-s",
        """\
all: one two
one: ; echo one
two: ; echo two
""",
        """\
from minimake import task
task("all", deps=["one", "two"])
task("one", recipe="echo one")
task("two", recipe="echo two")
""",
        [Step([]), Step(["-s"]), Step(["--silent"]), Step(["--quiet"])],
    ),
    "dash-C: change folder first": Scenario(
        "options/dash-C",
        """\
all: ; echo all in src
""",
        """\
from minimake import task
task("all", recipe="echo all in src")
""",
        [
            Step(["-C", "src"]),
            Step(["-C", "src/"]),
            Step(["-C", "inc", "-C", "../src"], [mkdir("inc")]),
            Step(["-C", "missing"]),
            Step(["-s", "-C", "src"]),
        ],
        folder="src",
    ),
    "general: -j followed by a goal, and -j errors": Scenario(
        "options/general",
        """\
foo: ; echo foo
1foo: ; echo 1foo
""",
        """\
from minimake import task
task("foo", recipe="echo foo")
task("1foo", recipe="echo 1foo")
""",
        [
            Step(["-j", "1foo"]),
            Step(["-j1foo"]),
            Step(["-j0"]),
            Step(["-j", "0"]),
            Step(["--jobs=x"]),
            Step(["-j", "-1"], differs=MINUS_ONE),
        ],
    ),
    "symlinks: a link is judged by what it points to": Scenario(
        "options/symlinks",
        """\
targ: sym ; echo make targ from sym
""",
        """\
from minimake import task
task("targ", deps=["sym"], recipe="echo make targ from sym")
""",
        [
            Step([]),
            Step([], [now("dep")]),
            Step([], [now("targ")]),
            Step([], [rm("targ", "dep")]),  # a dangling link is a missing file
        ],
        setup=[at("dep", -10), at("targ", -5), link("dep", "sym")],
    ),
    "symlinks: a loop is a stat error, then a missing file": Scenario(
        "options/symlinks",
        """\
all: loop ; echo all
loop: ; echo loop
""",
        """\
from minimake import task
task("all", deps=["loop"], recipe="echo all")
task("loop", recipe="echo loop")
""",
        [Step([], differs=STAT_ONCE), Step(["loop"], differs=STAT_ONCE)],
        setup=[link("loop", "loop")],
    ),
    "order_only: built first, never compared": Scenario(
        "features/order_only",
        f"""\
foo: bar | baz
{T}touch foo
.PHONY: baz
bar baz:
{T}touch $@
solo: | baz
{T}touch solo
""",
        """\
from minimake import phony, task
task("foo", deps=["bar"], order_only=["baz"], recipe="touch foo")
task("bar", recipe="touch bar")
phony("baz", recipe="touch baz")
task("solo", order_only=["baz"], recipe="touch solo")
""",
        [Step([]), Step([]), Step(["solo"]), Step(["solo"])],
    ),
    "order_only: a dep both normal and order-only is normal": Scenario(
        "features/order_only",
        f"""\
foo: bar | baz
{T}touch foo
foo: baz
.PHONY: baz
bar baz:
{T}touch $@
""",
        """\
from minimake import phony, task
task("foo", deps=["bar", "baz"], order_only=["baz"], recipe="touch foo")
task("bar", recipe="touch bar")
phony("baz", recipe="touch baz")
""",
        [Step([]), Step([])],
    ),
    "grouped_targets: one run for all of a group's goals": Scenario(
        "features/grouped_targets",
        """\
t1 t2 t3 t4: ; @echo $@
g1 g2 g3 g4 &: ; @echo $@ && touch g1 g2 g3 g4
""",
        """\
from minimake import task
for name in ["t1", "t2", "t3", "t4"]:
    task(name, recipe=f"echo {name}", silent=True)
task(["g1", "g2", "g3", "g4"], recipe="echo $TARGET && touch g1 g2 g3 g4", silent=True)
""",
        [
            Step(["-s", "t1", "t2", "t3", "t4", "g1", "g2", "g3", "g4"]),
            Step(["-s", "g1", "g2"]),
            Step(["g3", "g1"], [rm("g1", "g2", "g3", "g4")]),
            Step(["-s", "g3", "g1"], [rm("g1", "g2", "g3", "g4")]),
        ],
    ),
    "grouped_targets: phony groups, nothing to be done for the peers": Scenario(
        "features/grouped_targets",
        """\
.PHONY: t1 t2 t3 t4 g1 g2 g3 g4
t1 t2 t3 t4: ; @echo $@
g1 g2 g3 g4 &: ; @echo $@
""",
        """\
from minimake import phony
for name in ["t1", "t2", "t3", "t4"]:
    phony(name, recipe=f"echo {name}", silent=True)
phony(["g1", "g2", "g3", "g4"], recipe="echo $TARGET", silent=True)
""",
        [
            Step(["t1", "t2", "t3", "t4", "g1", "g2", "g3", "g4"]),
            Step(["g3", "g1"]),
            Step(["-n", "t1", "g2", "g4"]),
            Step(["-q", "g2"]),
            Step(["-t", "g1", "g2"]),
        ],
        # A file named like a phony name changes nothing, in either tool.
        setup=[now("g2")],
    ),
    "grouped_targets: a failed group is named by the target that reached it": Scenario(
        "features/grouped_targets",
        """\
.DELETE_ON_ERROR:
.PHONY: g1 g2 g3
x: g3 ; touch x
y: f2 ; touch y
g1 g2 g3 &: ; @echo $@; exit 1
f1 f2 &: ; @echo $@ && touch f1 && exit 2
""",
        """\
from minimake import phony, task
task("x", deps="g3", recipe="touch x")
task("y", deps="f2", recipe="touch y")
phony(["g1", "g2", "g3"], recipe="echo $TARGET; exit 1", silent=True)
task(["f1", "f2"], recipe="echo $TARGET && touch f1 && exit 2", silent=True)
""",
        [
            Step(["-k", "x", "g2"]),
            Step(["-k", "y", "f1"]),
            Step(["-i", "g2", "y"]),
        ],
    ),
    "grouped_targets: phony groups through a phony goal, in its dep order": Scenario(
        "features/grouped_targets",
        """\
.PHONY: m1 t1 t2 t3 t4 g1 g2 g3 g4
m1: t1 t2 t3 t4 g4 g3 g2 g1
t1 t2 t3 t4: ; @echo $@
g1 g2 g3 g4&: ; @echo $@
""",
        """\
from minimake import phony
phony("m1", deps=["t1", "t2", "t3", "t4", "g4", "g3", "g2", "g1"])
for name in ["t1", "t2", "t3", "t4"]:
    phony(name, recipe=f"echo {name}", silent=True)
phony(["g1", "g2", "g3", "g4"], recipe="echo $TARGET", silent=True)
""",
        [Step([]), Step(["m1", "g2"]), Step(["-k", "g4", "m1"])],
    ),
    "grouped_targets: $@ is the target that triggered the recipe": Scenario(
        "features/grouped_targets",
        """\
m1: t1 g4 g3 g2 g1
t1: ; @echo $@
g1 g2 g3 g4 &: ; @echo $@
""",
        """\
from minimake import task
task("m1", deps=["t1", "g4", "g3", "g2", "g1"])
task("t1", recipe="echo t1")
task(["g1", "g2", "g3", "g4"], recipe="echo $TARGET")
""",
        [Step(["-s"])],
    ),
    "grouped_targets: a missing or older peer remakes the group": Scenario(
        "features/grouped_targets",
        """\
x1: gta ; touch x1
x2: gtb ; touch x2
gta gtb &: ; touch gta gtb
old1 old2 &: pre ; touch old1 old2
""",
        """\
from minimake import task
task("x1", deps=["gta"], recipe="touch x1")
task("x2", deps=["gtb"], recipe="touch x2")
task(["gta", "gtb"], recipe="touch gta gtb")
task(["old1", "old2"], deps=["pre"], recipe="touch old1 old2")
""",
        [
            Step(["gta"], differs=PEER_MISSING),
            Step(["x1", "x2"], [rm("gtb")], differs=PEER_MISSING),
            # From one state in both folders again: everything is up to date.
            Step(["x1", "x2"], [at("gta", -20), at("gtb", -20), at("x1", -10), at("x2", -10)]),
            Step(["old1"], [at("old2", -20), at("pre", -10), now("old1")], differs=OLDEST),
        ],
        setup=[now("gta")],
    ),
    "errors: -i goes on after a failing line": Scenario(
        "features/errors",
        f"""\
two:
{T}exit 1
{T}exit 0
all:
{T}echo hi
{T}echo there
{T}exit 1
""",
        """\
from minimake import task
task("two", recipe=["exit 1", "exit 0"])
task("all", recipe=["echo hi", "echo there", "exit 1"])
""",
        [Step(["-i", "two"]), Step(["all"])],
    ),
    "mult_targets: several targets, one rule each": Scenario(
        "features/mult_targets",
        f"""\
bigoutput littleoutput: test.h
{T}echo I am $(subst output,,$@)
""",
        """\
from minimake import task
for size in ["big", "little"]:
    task(f"{size}output", deps=["test.h"], recipe=f"echo I am {size}")
""",
        [Step(["bigoutput"]), Step(["littleoutput"])],
        setup=[now("test.h")],
    ),
    "mult_rules: deps from several rules, and a variable": Scenario(
        "features/mult_rules",
        f"""\
objects = foo.o bar.o
foo.o: defs.h
bar.o: defs.h test.h
extradeps =
$(objects): config.h $(extradeps)
{T}echo EXTRA EXTRA
""",
        """\
from minimake import task, var
extra = [var("extradeps")] if var("extradeps") else []
task("foo.o", deps=["defs.h", "config.h", *extra], recipe="echo EXTRA EXTRA")
task("bar.o", deps=["defs.h", "test.h", "config.h", *extra], recipe="echo EXTRA EXTRA")
""",
        [Step(["extradeps=extra.h"]), Step(["extradeps=extra.h"], [now("extra.h")])],
        setup=[now("defs.h"), now("test.h"), now("config.h")],
    ),
    "echoing: -n and -s": Scenario(
        "features/echoing",
        f"""\
all:
{T}echo This makefile did not clean the dir... good
clean:
{T}rm -f EXAMPLE_FILE
""",
        """\
from minimake import task
task("all", recipe="echo This makefile did not clean the dir... good")
task("clean", recipe="rm -f EXAMPLE_FILE")
""",
        [Step([]), Step(["-n", "clean"]), Step(["-s"]), Step(["clean"])],
        setup=[now("EXAMPLE_FILE")],
    ),
    "parallelism: recipes really run at once": Scenario(
        "features/parallelism",
        """\
all: def_1 def_2 def_3
def_1: ; @touch ONE; while [ ! -e THREE ]; do sleep 0.01; done; echo TWO; touch def_1
def_2: ; @while [ ! -e FOUR ]; do sleep 0.01; done; touch THREE; touch def_2
def_3: ; @while [ ! -e ONE ]; do sleep 0.01; done; touch FOUR; touch def_3
""",
        """\
from minimake import task
task("all", deps=["def_1", "def_2", "def_3"])
task("def_1", recipe="touch ONE; while [ ! -e THREE ]; do sleep 0.01; done; echo TWO; touch def_1")
task("def_2", recipe="while [ ! -e FOUR ]; do sleep 0.01; done; touch THREE; touch def_2")
task("def_3", recipe="while [ ! -e ONE ]; do sleep 0.01; done; touch FOUR; touch def_3")
""",
        [Step(["-s", "-j4"], unordered=True)],
    ),
    "parallelism: one 'Waiting for unfinished jobs' when failures follow": Scenario(
        "features/parallelism",
        """\
.PHONY: all fail.1 fail.2 fail.3 ok
all: fail.1 ok fail.2 fail.3
fail.1: ; @while [ ! -e started.3 ]; do sleep 0.01; done; echo fail.1; touch fail.1; exit 1
fail.2: ; @while [ ! -e fail.1 ]; do sleep 0.01; done; echo fail.2; touch fail.2; exit 1
fail.3: ; @touch started.3; while [ ! -e fail.2 ]; do sleep 0.01; done; \\
  echo fail.3; touch fail.3; exit 1
ok: ; @while [ ! -e fail.3 ]; do sleep 0.01; done; echo OK
""",
        """\
from minimake import phony
phony("all", deps=["fail.1", "ok", "fail.2", "fail.3"])
wait = "while [ ! -e {} ]; do sleep 0.01; done"
# fail.3 starts last: once it has, all four run, and fail.1 may fail.
phony("fail.1", recipe=wait.format("started.3") + "; echo fail.1; touch fail.1; exit 1")
phony("fail.2", recipe=wait.format("fail.1") + "; echo fail.2; touch fail.2; exit 1")
phony("fail.3", recipe="touch started.3; " + wait.format("fail.2")
      + "; echo fail.3; touch fail.3; exit 1")
phony("ok", recipe=wait.format("fail.3") + "; echo OK")
""",
        [Step(["-s", "-j5"], unordered=True)],
    ),
    "PHONY: runs even when a file has its name": Scenario(
        "targets/PHONY",
        """\
.PHONY: clean
all: ; echo This makefile did not clean the dir ... good
clean: ; rm -f EXAMPLE_FILE clean
""",
        """\
from minimake import phony, task
task("all", recipe="echo This makefile did not clean the dir ... good")
phony("clean", recipe="rm -f EXAMPLE_FILE clean")
""",
        [Step(["clean"])],
        setup=[now("EXAMPLE_FILE"), now("clean")],
    ),
    "FORCE: a missing target with no recipe forces its dependents": Scenario(
        "targets/FORCE",
        """\
clean: FORCE ; rm -f clean
FORCE:
""",
        """\
from minimake import task
task("clean", deps=["FORCE"], recipe="rm -f clean")
task("FORCE")
""",
        [Step([]), Step(["FORCE"])],
        setup=[now("clean")],
    ),
    "clean: only the goal's recipe runs": Scenario(
        "targets/clean",
        """\
all: ; echo This makefile did not clean the dir... good
clean: ; rm -f EXAMPLE_FILE
""",
        """\
from minimake import task
task("all", recipe="echo This makefile did not clean the dir... good")
task("clean", recipe="rm -f EXAMPLE_FILE")
""",
        [Step([]), Step(["clean"])],
        setup=[now("EXAMPLE_FILE")],
    ),
    "DELETE_ON_ERROR: a failed recipe's target is deleted": Scenario(
        "targets/DELETE_ON_ERROR",
        """\
.DELETE_ON_ERROR:
all: ; exit 1 > all
keep: ; exit 1
dir: ; mkdir dir; exit 1
""",
        """\
from minimake import task
task("all", recipe="exit 1 > all")
task("keep", recipe="exit 1")
task("dir", recipe="mkdir dir; exit 1")
""",
        [Step([]), Step(["keep"], [now("keep")]), Step(["dir"])],
    ),
    "SECONDARY: an explicit target is never intermediate": Scenario(
        "targets/SECONDARY",
        """\
.PHONY: version
version2: version ; echo GOOD
all: version2
""",
        """\
from minimake import phony, task
phony("version")
task("version2", deps=["version"], recipe="echo GOOD")
task("all", deps=["version2"])
""",
        [Step(["all"])],
        setup=[now("version2")],
    ),
    "SECONDARY: a missing secondary file is not remade (intermediate=True)": Scenario(
        "targets/SECONDARY",
        """\
.SECONDARY:
final: intermediate
intermediate: source
final intermediate source: ; echo $< > $@
""",
        """\
from minimake import task
task("final", deps=["intermediate"], recipe="echo intermediate > final")
task("intermediate", deps=["source"], recipe="echo source > intermediate", intermediate=True)
task("source", recipe="echo > source")
""",
        [Step([])],
        setup=[at("source", -10), now("final")],
    ),
    "general1: a small product": Scenario(
        "misc/general1",
        f"""\
edit: main.o kbd.o commands.o display.o insert.o
{T}echo cc -o edit main.o kbd.o commands.o display.o insert.o
main.o: main.c defs.h ; echo cc -c main.c
kbd.o: kbd.c defs.h command.h ; echo cc -c kbd.c
commands.o: command.c defs.h command.h ; echo cc -c commands.c
display.o: display.c defs.h buffer.h ; echo cc -c display.c
insert.o: insert.c defs.h buffer.h ; echo cc -c insert.c
""",
        """\
from minimake import task
objects = ["main.o", "kbd.o", "commands.o", "display.o", "insert.o"]
task("edit", deps=objects, recipe="echo cc -o edit " + " ".join(objects))
task("main.o", deps=["main.c", "defs.h"], recipe="echo cc -c main.c")
task("kbd.o", deps=["kbd.c", "defs.h", "command.h"], recipe="echo cc -c kbd.c")
task("commands.o", deps=["command.c", "defs.h", "command.h"], recipe="echo cc -c commands.c")
task("display.o", deps=["display.c", "defs.h", "buffer.h"], recipe="echo cc -c display.c")
task("insert.o", deps=["insert.c", "defs.h", "buffer.h"], recipe="echo cc -c insert.c")
""",
        [Step([])],
        setup=[now(f) for f in ("main.c", "defs.h", "kbd.c", "command.h", "commands.c")]
        + [now(f) for f in ("display.c", "buffer.h", "insert.c", "command.c")],
    ),
    "general3: goals with nothing to do": Scenario(
        "misc/general3",
        """\
.PHONY: all a1 a2 a3 a4
all: a1 a2 a3 a4
a1:
a2:
""",
        """\
from minimake import phony
phony("all", deps=["a1", "a2", "a3", "a4"])
for name in ["a1", "a2", "a3", "a4"]:
    phony(name)
""",
        [Step([]), Step(["a1", "a1"])],
    ),
    "general4: folders, and names with $ in them": Scenario(
        "misc/general4",
        """\
all: dir/subdir/file.a test$$bar
dir/subdir: ; mkdir -p dir/subdir
dir/subdir/file.b: | dir/subdir ; touch dir/subdir/file.b
dir/subdir/file.a: dir/subdir/file.b ; cp dir/subdir/file.b dir/subdir/file.a
test$$bar: ; echo 'test$$bar'
""",
        """\
from minimake import task
task("all", deps=["dir/subdir/file.a", "test$bar"])
task("dir/subdir", recipe="mkdir -p dir/subdir")
task("dir/subdir/file.b", order_only=["dir/subdir"], recipe="touch dir/subdir/file.b")
task("dir/subdir/file.a", deps=["dir/subdir/file.b"],
     recipe="cp dir/subdir/file.b dir/subdir/file.a")
task("test$bar", recipe="echo 'test$bar'")
""",
        [Step([]), Step([])],
    ),
    "automatic: $@ $< $^ as $TARGET $DEP $DEPS": Scenario(
        "variables/automatic",
        f"""\
foo.x: baz.z bar.y baz.z
{T}echo '$$@ = $@, $$< = $<, $$^ = $^'
{T}touch $@
bar.y baz.z: ; touch $@
all: A B
all: ; echo $@ -- $^ -- $<
all: C D
all: E F
A B C D E F G H: ; :
""",
        """\
from minimake import task
task("foo.x", deps=["baz.z", "bar.y", "baz.z"],
     recipe=[r'echo "\\$@ = $TARGET, \\$< = $DEP, \\$^ = $DEPS"', "touch $TARGET"])
task("bar.y", recipe="touch $TARGET")
task("baz.z", recipe="touch $TARGET")
task("all", deps=["A", "B", "C", "D", "E", "F"], recipe="echo $TARGET -- $DEPS -- $DEP")
for name in "ABCDEFGH":
    task(name, recipe=":")
""",
        [Step(["-s"]), Step(["-s", "all"])],
        setup=[at("foo.x", -10), at("baz.z", -10)],
    ),
}


def _files(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` but the two build files and minimake's state: mtime, text."""
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        parts = relative.split("/")
        if parts[-1] in {"Makefile", "tasks.py"} or {".minimake", "__pycache__"} & set(parts):
            continue
        if path.is_symlink() and not path.exists():
            found[relative] = (0, "-> dangling")
        elif path.is_file() and not path.is_symlink():
            found[relative] = (path.stat().st_mtime_ns, path.read_text(errors="replace"))
        elif path.is_dir():
            found[relative + "/"] = (0, "")
    return found


def _changes(before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]) -> dict:
    """What a step did: per file, created / changed (mtime or text) / deleted, with its text."""
    changes = {}
    for name in before.keys() | after.keys():
        if name not in after:
            changes[name] = "deleted"
        elif name not in before:
            changes[name] = ("created", after[name][1])
        elif before[name] != after[name]:
            changes[name] = ("changed", after[name][1])
    return changes


def _lines(text: str, root: Path) -> list[str]:
    """make's and minimake's lines made comparable: program name, locations, paths, counts."""
    text = text.replace(str(root), "ROOT")
    lines = []
    for said in text.splitlines():
        if said.lower().startswith("usage: "):
            break  # after a usage error each prints its own usage text
        if said.startswith("minimake: Did you mean "):
            continue  # minimake's suggestions for a name it does not know: an addition
        line = re.sub(r"^(?:mini)?make(?:\[\d+\])?: ", "MAKE: ", said)
        line = re.sub(r"\[(?:Makefile|tasks\.py):\d+: ", "[", line)
        lines.append(re.sub(r"modification time \d+ s", "modification time N s", line))
    return lines


@dataclass
class Outcome:
    rc: int
    out: list[str]
    err: list[str]
    changes: dict

    def shown(self) -> str:
        return (
            f"rc={self.rc}\n--- stdout\n"
            + "\n".join(self.out)
            + "\n--- stderr\n"
            + ("\n".join(self.err) + f"\n--- files\n{self.changes}")
        )


def _run(tool: Callable[[Path, list[str]], Run], root: Path, folder: str, step: Step) -> Outcome:
    for op in step.before:
        op(root)
    before = _files(root)
    run = tool(root, step.args)
    out, err = _lines(run.out, root), _lines(run.err, root)
    if step.unordered:
        out, err = sorted(out), sorted(err)
    return Outcome(run.rc, out, err, _changes(before, _files(root)))


def _minimake(root: Path, args: list[str]) -> Run:
    return run_minimake(root, ["--progress", "off", *args])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_as_make(name: str, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    trees = {"make": tmp_path / "make", "minimake": tmp_path / "minimake"}
    for who, root in trees.items():
        folder = root / scenario.folder
        folder.mkdir(parents=True)
        build_file = (
            ("Makefile", scenario.makefile) if who == "make" else ("tasks.py", scenario.tasks)
        )
        (folder / build_file[0]).write_text(build_file[1])
        for op in scenario.setup:
            op(root)
    for number, step in enumerate(scenario.steps):
        make = _run(run_make, trees["make"], scenario.folder, step)
        mini = _run(_minimake, trees["minimake"], scenario.folder, step)
        where = (
            f"{scenario.source}, step {number}: {step.args}\n=== make {make.shown()}\n"
            f"=== minimake {mini.shown()}"
        )
        if step.differs:
            assert make != mini, f"expected to differ ({step.differs}) but agree\n{where}"
            continue
        assert mini == make, where
