"""The fuzz tests (``tests/test_fuzz.py``) with many more examples than CI runs.

Hostile sparse matrices and torch tensors through every public entry point, and
corrupt weight files through ``pretrained``: each must give a clear error or a
correct result, never a crash (a crash ends this process).  Prints how many
inputs each test tried.

    python benchmarks/fuzz.py                  # up to 2000 examples per test (about 1 min)
    python benchmarks/fuzz.py --examples 300
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000)
    args = ap.parse_args()
    env = dict(os.environ, FUZZ_EXAMPLES=str(args.examples))
    run = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "pytest", "-q", "-p",
                          "no:randomly", "--hypothesis-show-statistics", "tests/test_fuzz.py"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    print(run.stdout[-4000:], run.stderr[-2000:], sep="\n")
    tried = sum(int(a) + int(b) for a, b in re.findall(r"- (\d+) passing, (\d+) failing",
                                                       run.stdout))
    tests = len(re.findall(r"^tests/test_fuzz\.py::", run.stdout, flags=re.M))
    print(f"inputs tried: {tried} over {tests} fuzz tests; exit status {run.returncode}"
          + (" (a negative status is a crash)" if run.returncode < 0 else ""))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
