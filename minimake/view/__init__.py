"""What users see: make's lines and the engine's events (ui), the live display and plain
progress (progress), the summary, failure report and --json (report), --list and --graph
(render), --explain (explain), and the timing page and trace (timings, recorder, timings_page,
timings_svg, chrome_trace).

Nothing here changes what a build does: every module reads the engine's events and values."""
