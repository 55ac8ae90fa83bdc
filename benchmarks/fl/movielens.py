"""Workload 'movielens' of the federated suite alone.

Usage: `python benchmarks/fl/movielens.py [--quick] [--json] [--no-flower]`.
"""

import sys

from run_all import main

if __name__ == "__main__":
    sys.exit(main(["--only", "movielens", *sys.argv[1:]]))
