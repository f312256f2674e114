"""Summarise a py-spy raw profile (collapsed stacks): where the time goes.

    .venv/bin/python bench/hotspots.py bench/out/profile-service-add-16.txt

Prints the share of the sampled time spent inside each function (inclusive,
each function counted once per stack) and the functions the samples stopped
in (self).
"""

import re
import sys
from collections import Counter


def frames(stack: str) -> list[str]:
    # "func (path/file.py:123)" -> "func (path/file.py)": merge the lines.
    return [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]


def main(path: str, top: int = 30) -> None:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    with open(path) as stacks:
        for line in stacks:
            stack, _, samples = line.rstrip("\n").rpartition(" ")
            count = int(samples)
            names = [name for name in frames(stack) if not name.startswith("process")]
            if not names:  # a process sampled outside Python
                continue
            total += count
            leaf[names[-1]] += count
            for name in set(names):
                inclusive[name] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", leaf)):
        print(f"\n{title}:")
        for name, count in counter.most_common(top):
            print(f"{count / total:6.1%}  {name}")


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
