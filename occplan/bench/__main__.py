"""``python -m occplan.bench <name> [args...]``: run one benchmark and print its figures as JSON."""

from __future__ import annotations

import importlib
import json
import sys

from occplan.bench import BENCHMARKS, machine_info


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m occplan.bench {{{'|'.join(BENCHMARKS)}}} [args...]", file=sys.stderr)
        return 2
    mod = importlib.import_module(BENCHMARKS[argv[0]])
    result = {"benchmark": argv[0], **machine_info(), **mod.run(argv[1:])}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
