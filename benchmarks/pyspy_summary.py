"""Summarize a py-spy `--format raw` (collapsed stacks) file: inclusive and self share per
function, so a profile of a benchmark reads as "where the time goes".

    py-spy record -r 250 --format raw -o /tmp/prof.txt -- \
        .venv/bin/python benchmarks/bench_posting.py --db sqlite --docs 300
    python benchmarks/pyspy_summary.py /tmp/prof.txt [--match hoop/] [--top 40]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    f = m.group("file")
    for cut in ("site-packages/", "/src/", "/lib/python3.11/"):
        if cut in f:
            f = f.split(cut, 1)[1]
            break
    return f"{m.group('fn')} ({f})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--match", default="", help="only functions whose file contains this")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--within", default="", help="only samples whose stack has this function")
    a = p.parse_args()
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    with open(a.path) as fh:
        lines = fh.read().splitlines()
    for raw in lines:
        if not raw:
            continue
        stack, _, n = raw.rpartition(" ")
        count = int(n)
        frames = [short(f) for f in stack.split(";")]
        if a.within and not any(a.within in f for f in frames):
            continue
        total += count
        for f in set(frames):
            incl[f] += count
        self_[frames[-1]] += count
    print(f"{total} samples")
    print(f"{'incl%':>6} {'self%':>6}  function")
    for f, n in incl.most_common():
        if a.match and a.match not in f:
            continue
        print(f"{100 * n / total:6.1f} {100 * self_[f] / total:6.1f}  {f}")
        a.top -= 1
        if a.top <= 0:
            break


if __name__ == "__main__":
    main()
