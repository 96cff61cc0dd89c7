"""Kill and signal minimake at random moments, then check that nothing half-written is trusted.

    python bench/signal_stress.py                 # 120 rounds (about 10 minutes on 2 cores)
    python bench/signal_stress.py --rounds 20 --seed 7

A project of 200 tasks (half shell recipes, half Python recipes on the process pool; a few
shell recipes ignore SIGINT and SIGTERM, so that minimake must wait and then kill them) whose
recipes write their target in three pieces. Each round deletes some targets, starts
``minimake -j4``, and after a random delay sends one of: kill -9 to minimake, kill -9 to its
process group, SIGINT, SIGTERM, SIGHUP, or two signals (the second while the first is being
handled). Then minimake runs again, unsignalled, to completion, and every target is read:
each must hold its three pieces (a half-written target reported up to date is corrupt), and
no process started by either run may still be alive (leaked).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TASKS = 200
PIECES = 3
STUBBORN = 10  # shell recipes that ignore SIGINT and SIGTERM

TASKS_PY = f"""\
import time
from minimake import phony, task

def write(path, name):
    for piece in range(1, {PIECES + 1}):
        with open(path, "w" if piece == 1 else "a") as out:
            out.write(f"{{name}} piece {{piece}}\\n")
        time.sleep(0.03)

names = []
for i in range({TASKS}):
    name = f"out/t{{i}}"
    deps = [f"out/t{{i - 10}}"] if i >= 10 else []
    if i % 2:
        task(name, deps=deps, recipe=write, args=(name, name))
    else:
        trap = "trap '' TERM INT; " if i % ({TASKS} // {STUBBORN}) == 0 else ""
        lines = "; sleep 0.03; ".join(
            f"echo \\"$TARGET piece {{piece}}\\" {{'>' if piece == 1 else '>>'}} $TARGET"
            for piece in range(1, {PIECES + 1})
        )
        task(name, deps=deps, recipe=trap + lines + "; sleep 0.03")
    names.append(name)
phony("all", deps=names, default=True)
"""

KINDS = ("kill -9", "kill -9 group", "SIGINT", "SIGTERM", "SIGHUP", "double")
DOUBLES = (
    (signal.SIGINT, signal.SIGINT),
    (signal.SIGTERM, signal.SIGTERM),
    (signal.SIGTERM, signal.SIGINT),
    (signal.SIGHUP, signal.SIGTERM),
)


def expected(i: int) -> str:
    return "".join(f"out/t{i} piece {piece}\n" for piece in range(1, PIECES + 1))


def environment(token: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["PYTHONPATH"] = str(REPO)
    env["SIGNAL_STRESS"] = token  # every recipe and worker inherits it: how leaks are found
    return env


# The build each round runs, interrupted or to completion.
MINIMAKE = [sys.executable, "-m", "minimake", "-j4", "--progress", "off", "-s"]


def start(folder: Path, token: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        MINIMAKE,
        cwd=folder,
        env=environment(token),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a shell's job: "kill -9 group" hits it
    )


def ours(token: str) -> list[int]:
    """Processes alive (not zombies) whose environment holds ``token``."""
    found = []
    needle = f"SIGNAL_STRESS={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if needle in environ.split(b"\0") and stat[stat.rfind(")") + 2] != "Z":
            found.append(int(entry))
    return found


def send(process: subprocess.Popen[str], kind: str, rng: random.Random) -> str:
    """Send ``kind``; the name it is counted under."""
    if kind == "kill -9":
        process.kill()
    elif kind == "kill -9 group":
        os.killpg(process.pid, signal.SIGKILL)
    elif kind == "double":
        first, second = rng.choice(DOUBLES)
        process.send_signal(first)
        time.sleep(rng.uniform(0.0, 0.5))  # the second lands somewhere in the clean-up
        if process.poll() is None:
            process.send_signal(second)
        return f"double {first.name}+{second.name}"
    else:
        process.send_signal(getattr(signal, kind))
    return kind


def _run_to_completion(folder: Path, token: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        MINIMAKE,
        cwd=folder,
        env=environment(token),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _corrupt(folder: Path) -> list[str]:
    """Each target that does not hold its three pieces, with what it holds."""
    found = []
    for i in range(TASKS):
        path = folder / f"out/t{i}"
        text = path.read_text() if path.exists() else None
        if text != expected(i):
            found.append(f"out/t{i} holds {text!r}")
    return found


def _leaked(token: str) -> list[int]:
    """Processes of the runs still alive; pool workers leave as their minimake ends, so they
    get a moment to notice."""
    leaked = ours(token)
    for _ in range(20):
        if not leaked:
            break
        time.sleep(0.1)
        leaked = ours(token)
    for pid in leaked:
        os.kill(pid, signal.SIGKILL)
    return leaked


def _round(
    folder: Path, token: str, rng: random.Random, counts: collections.Counter[str]
) -> list[str]:
    """Delete some targets, signal a build, build to completion, check; the problems seen."""
    problems = []
    for i in rng.sample(range(TASKS), rng.randint(5, 40)):
        (folder / f"out/t{i}").unlink(missing_ok=True)
    process = start(folder, token)
    time.sleep(rng.uniform(0.05, 1.2))  # any moment: start-up, mid-recipe, mid-build
    kind = send(process, rng.choice(KINDS), rng)
    counts[f"signals: {kind}"] += 1
    counts["signals"] += 1
    counts["runs"] += 1
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        counts["hung after the signal"] += 1
        problems.append(f"minimake did not end after {kind}")
    if "Traceback" in err:
        counts["tracebacks"] += 1
        problems.append(f"{kind}: {err[-800:]}")
    done = _run_to_completion(folder, token)
    counts["runs"] += 1
    if done.returncode != 0:
        counts["completion runs that failed"] += 1
        problems.append(f"after {kind}: exited {done.returncode}: {done.stderr[-800:]}")
    corrupt = _corrupt(folder)
    counts["corrupt targets"] += len(corrupt)
    problems += [f"after {kind}: {what}" for what in corrupt]
    leaked = _leaked(token)
    counts["leaked processes"] += len(leaked)
    if leaked:
        problems.append(f"after {kind}: alive after the run: {leaked}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", default=None, help="parent of the temporary project")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="minimake-stress-", dir=args.workdir))
    token = f"{os.getpid()}-{args.seed}"
    counts: collections.Counter[str] = collections.Counter()
    for name in ("corrupt targets", "leaked processes", "hung after the signal", "tracebacks"):
        counts[name] = 0
    problems: list[str] = []
    started = time.monotonic()
    try:
        (folder / "tasks.py").write_text(TASKS_PY)
        (folder / "out").mkdir()
        first = _run_to_completion(folder, token)
        counts["runs"] += 1
        if first.returncode != 0:
            problems.append(f"the first build exited {first.returncode}: {first.stderr[-500:]}")
        for number in range(args.rounds):
            problems += [
                f"round {number}: {problem}" for problem in _round(folder, token, rng, counts)
            ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for name, count in sorted(counts.items()):
        print(f"{name}: {count}")
    print(f"seconds: {time.monotonic() - started:.0f}")
    for problem in problems[:20]:
        print("PROBLEM", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
