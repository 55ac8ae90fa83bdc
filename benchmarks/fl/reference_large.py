"""Workload 'reference_large' of the federated suite alone.

Usage: `python benchmarks/fl/reference_large.py [--quick] [--json] [--no-flower]`.
"""

import sys

from run_all import main

if __name__ == "__main__":
    sys.exit(main(["--only", "reference_large", *sys.argv[1:]]))
