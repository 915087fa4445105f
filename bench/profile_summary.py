"""Summarize a py-spy profile from `bench/run.py --profile` (collapsed stacks, `--format raw`).

    .venv/bin/python bench/profile_summary.py bench/out/<stamp>/token.py-spy.txt [--top 30]

Prints, over the gunicorn workers' busy samples (py-spy leaves idle threads out, so time spent
waiting for PostgreSQL or the network is not counted), the share of samples in which each function
is on the stack (inclusive) and on top of it (self), with the project's own frames marked `*`.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def frames(line: str) -> tuple[list[str], int]:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    names = []
    for part in stack.split(";"):
        if part.startswith(("process ", "thread ")):
            continue
        match = FRAME.match(part)
        names.append(f"{match['func']} ({match['file']})" if match else part)
    return names, int(count)


def _records(text: str):
    """One stack per record; a frame name may itself hold a newline, so join until the count."""
    pending = ""
    for line in text.splitlines():
        pending += line
        if re.search(r" \d+$", pending):
            yield pending
            pending = ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    options = parser.parse_args()

    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in _records(options.profile.read_text()):
        names, count = frames(line)
        if not names:
            continue
        total += count
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    if not total:
        raise SystemExit("no samples")
    print(f"{total} busy samples\n\n  incl%   self%  function")
    for name, count in inclusive.most_common(options.top):
        mark = "*" if "(app/" in name or "(bench/" in name else " "
        print(f"{100 * count / total:6.1f}  {100 * own[name] / total:6.1f} {mark} {name}")
    print("\nby self time:\n  self%  function")
    for name, count in own.most_common(options.top):
        print(f"{100 * count / total:6.1f}   {name}")


if __name__ == "__main__":
    main()
