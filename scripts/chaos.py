"""Tries the faults long runs meet against the real CLIs and prints a table: fault, expected, observed, pass.

    .venv/bin/python scripts/chaos.py            # every scenario (about 4 minutes on an idle 2-core machine)
    .venv/bin/python scripts/chaos.py --only train_stop_signal,prepare_killed

The scenarios live in tests/faults.py; tests/test_faults.py asserts each of them (so `make test` and CI run
them), this script prints them as a table. Exits 1 if any row fails. Resident memory of long runs (train from
step 500 to 3000, prepare and resynth of a 1-hour recording) is measured by scripts/benchmark_memory.py.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests import faults  # noqa: E402  (after the checkout is on sys.path)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--only', default='', help=f'comma-separated names of: {", ".join(faults.SCENARIOS)}')
    parser.add_argument('--work_dir', default='', help='keep the runs here (default: a temporary folder)')
    parser.add_argument('--verbose', action='store_true', help='print each failing row with its log tail')
    parser.add_argument('--markdown', action='store_true', help='print the table as markdown')
    args = parser.parse_args()
    scenarios = dict(faults.SCENARIOS)
    names = [n for n in args.only.split(',') if n] or list(scenarios)
    unknown = [n for n in names if n not in scenarios]
    if unknown:
        parser.error(f'unknown scenario(s) {unknown}; choose from {list(scenarios)}')
    root = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix='chaos-'))
    rows = []
    for name in names:
        start = time.time()
        print(f'== {name} ...', flush=True)
        scenario = scenarios[name]
        work = root / name
        work.mkdir(parents=True, exist_ok=True)
        try:
            got = scenario(work)
        except Exception as error:  # A scenario that breaks is a failed row, not the end of the run.
            got = [faults.Row(name, 'runs', f'{type(error).__name__}: {error}', False)]
        rows += got
        print(f'   {sum(r.passed for r in got)}/{len(got)} passed in {time.time() - start:.0f} s', flush=True)
        if args.verbose:
            for row in got:
                if not row.passed:
                    print(row.report(), flush=True)
    print()
    print(faults.format_markdown(rows) if args.markdown else faults.format_table(rows))
    print(f'\n{sum(r.passed for r in rows)} of {len(rows)} passed; runs kept in {root}')
    return 0 if all(r.passed for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
