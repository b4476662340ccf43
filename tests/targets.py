"""The speed and memory targets of the benchmarks (tests/bench_*.py) and their `--check` flag.

Usage, in a benchmark's main():
    add_check_flag(parser)
    ...
    return check_targets([("wall time (s)", wall, 3.0)], args.check)   # exit status
"""
from __future__ import annotations

import argparse


def add_check_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")


def check_targets(figures: list[tuple[str, float, float]], check: bool) -> int:
    """Print each (name, value, limit) missed (value above its limit); 1 if --check and any was."""
    missed = [(name, value, limit) for name, value, limit in figures if not value <= limit]
    for name, value, limit in missed:
        print(f"MISSED {name}: {value:.3g} (target <= {limit:g})")
    if check and not missed:
        print(f"all {len(figures)} targets met")
    return 1 if check and missed else 0
