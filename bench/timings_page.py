"""The timing page at scale: its size, how long minimake takes to write it, how long a browser
takes to draw it.

    python bench/timings_page.py                 # 10,000 tasks on 16 and 64 slots
    python bench/timings_page.py --tasks 2000 --jobs 8

The run is synthetic (no recipe runs): layers of 500 tasks, each needing two tasks of the layer
before, with exponential durations (mean 0.5 s), list-scheduled on the slots, then recorded as
the Recorder would record it. The render time is headless chromium's time to load the page and
take a screenshot, less its time for an empty page (the browser's own start-up); it is left
out when chromium is not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from minimake.record import Run, Span
from minimake.result import Status
from minimake.view.chrome_trace import trace_events
from minimake.view.timings_page import page


def synthetic_run(count: int, jobs: int, seed: int = 1) -> Run:
    rng = random.Random(seed)
    free = [0.0] * jobs
    ends: dict[str, float] = {}
    spans = []
    for index in range(count):
        name = f"out/layer{index // 500}/task{index:05d}.dat"
        earlier = {index - 500 - rng.randrange(500) for _ in range(2)}
        deps = tuple(f"out/layer{d // 500}/task{d:05d}.dat" for d in earlier if d >= 0)
        ready = max((ends[d] for d in deps), default=0.0)
        slot = min(range(jobs), key=free.__getitem__)
        start = max(free[slot], ready)
        end = start + rng.expovariate(2.0)
        free[slot] = ends[name] = end
        reason = f"'{deps[0]}' is newer than '{name}'" if deps else f"'{name}' does not exist"
        spans.append(Span(name, Status.RAN, start, end, ready, True, True, reason, 0, deps=deps))
    return Run(("all",), jobs, "process", datetime.now(), max(ends.values()), tuple(spans))


def render_seconds(browser: str, path: str, reps: int) -> float:
    """Median seconds for headless chromium to load ``path`` and take a screenshot."""
    times = []
    for _ in range(reps):
        shot = path + ".png"
        began = time.perf_counter()
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=1280,2000", path],
            capture_output=True, check=True, timeout=300,
        )  # fmt: skip
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, action="append", help="slots (default 16 and 64)")
    parser.add_argument("--reps", type=int, default=3)
    options = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as folder:
        empty = os.path.join(folder, "empty.html")
        with open(empty, "w") as file:
            file.write("<!DOCTYPE html><title>empty</title>")
        baseline = render_seconds(browser, empty, options.reps) if browser else 0.0
        for jobs in options.jobs or [16, 64]:
            run = synthetic_run(options.tasks, jobs)
            times = []
            for _ in range(options.reps):
                began = time.perf_counter()
                html = page(run)
                times.append(time.perf_counter() - began)
            path = os.path.join(folder, f"page-{jobs}.html")
            with open(path, "w", encoding="utf-8") as file:
                file.write(html)
            trace = len(json.dumps(trace_events(run), separators=(",", ":")))
            line = (
                f"{options.tasks} tasks, -j{jobs}: page {len(html.encode()) / 1e6:.2f} MB, "
                f"written in {statistics.median(times):.2f} s; trace {trace / 1e6:.2f} MB"
            )
            if browser:
                drawn = render_seconds(browser, path, options.reps) - baseline
                line += f"; chromium draws it in {drawn:.2f} s (start-up {baseline:.2f} s aside)"
            print(line)


if __name__ == "__main__":
    main()
