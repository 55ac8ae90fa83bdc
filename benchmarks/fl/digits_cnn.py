"""Workload 'digits_cnn' of the federated suite alone.

Usage: `python benchmarks/fl/digits_cnn.py [--quick] [--json] [--no-flower]`.
"""

import sys

from run_all import main

if __name__ == "__main__":
    sys.exit(main(["--only", "digits_cnn", *sys.argv[1:]]))
