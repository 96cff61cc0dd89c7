"""``--results``, ``--results-page`` and ``--forget-results``: the recorded trials read back
beside a dry run that says which are stale now (an assembly, as cli and engine are)."""

from __future__ import annotations

import argparse

import attrs

from minimake.engine import _journal, execute, load_graph, prepare
from minimake.errors import UsageError
from minimake.events import NullReporter
from minimake.journal import Journal
from minimake.options import Options
from minimake.result import Status
from minimake.results import Row, columns, order, row, sort_key, wants_record
from minimake.view.progress import ProgressReporter
from minimake.view.results import rich_table, tab_lines, to_json
from minimake.view.ui import write_line
from minimake.words import shown

EXIT_OK = 0


def results(args: argparse.Namespace, options: Options, reporter: ProgressReporter) -> int:
    """Print the results table (or write its page, or forget it); run nothing."""
    if args.forget_results:
        with _journal(options.folder, True, writable=True, reporter=reporter) as journal:
            count = journal.forget_trials()
        write_line(reporter.err, f"Forgot the results of {count} task(s).")
        return EXIT_OK
    rows = _rows(args, options)
    params, metrics = columns(rows, only_changed=not args.all_params)
    if args.sort:
        name = sort_key(args.sort)[0]
        known = {*metrics, *(param for one in rows for param, _ in one.params)}
        if rows and name not in known:
            choices = ", ".join(sorted(known)) or "none"
            raise UsageError(f"No metric or param '{name}' to sort by (choose from {choices}).")
    rows = order(rows, args.sort)
    if args.results_page:
        from minimake.view.results_page import save

        path = save(args.results_page, rows, params, metrics, args.sort)
        write_line(reporter.err, f"Results page saved to {shown(path)}")
        if not args.results:
            return EXIT_OK
    if args.json:
        reporter.show([to_json(rows, params, metrics)])
    elif reporter.stdout.is_terminal:
        reporter.stdout.print(rich_table(rows, params, metrics))
    else:
        reporter.show(tab_lines(rows, params, metrics))
    return EXIT_OK


def _rows(args: argparse.Namespace, options: Options) -> list[Row]:
    """A row per declared task with params or metrics (those the goals need, when named),
    from a dry run and the journal; with --results=all, the recorded ones declared no more."""
    graph = load_graph(options)
    declared = [name for name, task in graph.tasks.items() if wants_record(task)]
    stale: dict[str, bool] = {}
    journal: Journal
    quiet = NullReporter()
    if declared or options.goals:
        probe = attrs.evolve(
            options,
            goals=tuple(options.goals) or tuple(declared),
            dry_run=True,
            keep_going=True,
            rerun_triggers=args.rerun_triggers,
            journal=not args.no_journal,
        )
        with prepare(probe, quiet) as prepared:
            outcome = execute(prepared, quiet)
            journal = prepared.journal
        wanted = set(declared) & prepared.selected
        for name in declared:
            if name in wanted:
                stale[name] = outcome.tasks[name].status is not Status.UP_TO_DATE
    else:  # nothing declared: only the journal has rows to show
        with _journal(
            options.folder, not args.no_journal, writable=False, reporter=quiet
        ) as journal:
            pass
    markers = journal.markers
    rows = [
        row(name, stale[name], graph.tasks[name], journal.trial(name), markers.get(name))
        for name in stale
    ]
    if args.results == "all" and not options.goals:
        for name in journal.trials:
            if name not in graph.tasks or not wants_record(graph.tasks[name]):
                trial = journal.trial(name)
                if trial is not None:
                    rows.append(row(name, None, None, trial))
    return rows
