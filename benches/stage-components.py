#!/usr/bin/env python3
"""CPU seconds of one stage of a night, by component, from a perf profile.

Used for docs/performance.md, "The worst scenarios over the still run once;
what the reports stage is made of (session 14, lead)":

    perf record -F 499 --call-graph dwarf,16384 -o night.data \\
        ./target/release/exfee run /tmp/s100k --out OUT --date 2026-11-20
    perf script -i night.data -F time,tid,ip,sym > night.txt
    benches/stage-components.py T0 T1 < night.txt

T0 and T1 are seconds from the first sample: the stage's start and end, the
sums of the stage times the run prints (e.g. read + prepare + scenarios +
revaluation + fees, then + reports). Each sample in the window is given to
the first component below that is on its stack; the sampling rate must be
499 Hz for the seconds to be right.
"""
import collections
import re
import sys

HZ = 499


def on(pattern):
    regex = re.compile(pattern)
    return lambda stack: any(regex.search(frame) for frame in stack)


COMPONENTS = [
    ("state (SQLite, own thread)", on(r"^(sqlite3|exfee_state|rusqlite)")),
    ("night files (own thread)", on(r"write_night_files")),
    ("staging: own moves of the held stocks", on(r"kept_draws|idio_moves")),
    ("staging: factors' and currencies' draws", on(r"fill_draws|Draws::moves")),
    ("staging: leg P&L, totals, worst, hedges", on(r"^exfee::reporting::Stager|PnlChunks")),
    ("adjustments", on(r"^exfee::reporting::adjustments")),
    ("report model", on(r"^exfee::reporting::report")),
    ("JSON", on(r"^exfee_report::(_::|json)")),
    ("charts (SVG, plotters, histogram)", on(r"^(exfee_report::chart|plotters)|finite_range")),
    ("HTML, Markdown, CSV, document", on(r"^exfee_report::(html|markdown|csv_out|build|document|format)")),
    ("files: kernel", on(r"^(do_syscall_64|entry_SYSCALL)")),
    ("files: user side", on(r"^exfee_io|ReportFiles")),
    ("interrupts, softirq", on(r"^(asm_sysvec|asm_common_interrupt|handle_softirqs|irq)")),
    # On the pool's threads the stack often names the per-class rows' walk
    # to each subject's worst scenario only inside a closure's type.
    ("per-class rows (without reports)", on(r"accounts_worst|fees_by_class_rows")),
    ("rayon scheduling", on(r"^rayon|wait_until")),
]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    t0, t1 = float(sys.argv[1]), float(sys.argv[2])
    counts = collections.Counter()
    first = None
    when = None
    stack = []
    total = 0

    def flush():
        nonlocal total
        if when is None or not stack or not t0 <= when - first <= t1:
            return
        total += 1
        for name, test in COMPONENTS:
            if test(stack):
                counts[name] += 1
                return
        counts["other"] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        head = re.match(r"^\s*(?:\S+\s+)?(\d+\.\d+):", line)
        if head:
            flush()
            stack = []
            when = float(head.group(1))
            if first is None:
                first = when
        elif line.strip():
            parts = line.strip().split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "?")
    flush()
    print(f"stage {t1 - t0:.2f} s: {total / HZ:.2f} CPU-s")
    for name, count in counts.most_common():
        print(f"{count / HZ:6.2f}  {name}")


main()
