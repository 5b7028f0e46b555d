"""celltrace benchmark harness: accuracy, peers, scaling, memory (and GPU) in one run.

    python benchmarks/harness.py --quick          # CPU subset, ≤ 10 min on 2 cores
    python benchmarks/harness.py                  # full run (all frames, 5,000-frame memory run)
    python benchmarks/harness.py --gpu            # + learned methods on the GPU, if one is there

Writes benchmarks/results/{quick,full}/results.{md,json}, scaling.png and jobs.log. See benchmarks/README.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from celltrace_bench.run import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
