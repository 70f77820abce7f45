"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where the samples go.

    python bench/pyspy_summary.py bench/results/profile-conversation-....txt [--top 25]

Prints, per thread kind, the functions with the most *self* samples (the frame on top of
the stack) and the most *inclusive* samples (anywhere on the stack), as a share of all
samples. Frames are "function (file:line)"; lines are dropped so a function counts once.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME_LINE = re.compile(r":\d+\)$")


def _frame(frame: str) -> str:
    """'receive (services/x.py:12)' -> 'receive (services/x.py)', shortened paths."""
    frame = _FRAME_LINE.sub(")", frame.strip())
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in frame:
            head, _, tail = frame.partition("(")
            frame = f"{head}({tail.split(marker, 1)[-1]}"
    return frame


def load(path: str | Path) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for raw in Path(path).read_text(errors="replace").splitlines():
        match = _LINE.match(raw.strip())
        if not match:
            continue
        frames = [_frame(f) for f in match["stack"].split(";") if f]
        stacks.append((frames, int(match["count"])))
    return stacks


def summarize(path: str | Path, top: int = 20) -> dict:
    stacks = load(path)
    total = sum(count for _, count in stacks) or 1
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames:
            continue
        # py-spy puts the thread ("process 123:\"...\";thread (0x..)") first when asked to;
        # otherwise the root frame tells the event-loop thread from the worker threads.
        root = next((f for f in frames if "thread" in f.lower() or "<module>" in f), frames[0])
        threads[root] += count
        self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return {
        "samples": total,
        "self": [(f, c, c / total) for f, c in self_time.most_common(top)],
        "inclusive": [(f, c, c / total) for f, c in inclusive.most_common(top)],
        "roots": [(f, c, c / total) for f, c in threads.most_common(8)],
    }


def render(summary: dict, title: str = "") -> str:
    out = [f"== {title} ({summary['samples']} samples) =="]
    for key, label in (("self", "self time"), ("inclusive", "inclusive time")):
        out.append(f"-- top {label} --")
        out.extend(f"{share:6.1%} {count:7d}  {frame}" for frame, count, share in summary[key])
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", nargs="+", help="py-spy raw (collapsed) output files")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.profile:
        print(render(summarize(path, args.top), title=str(path)))
        print()


if __name__ == "__main__":
    main()
