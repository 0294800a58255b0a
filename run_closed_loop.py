"""Closed-loop (or open-loop) evaluation of a perception model + planner; see ``occplan.harness``.

python run_closed_loop.py --model occnet            # the embedded mini set, val split, closed loop
python run_closed_loop.py --help
"""

import sys

from occplan.harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
