"""The quick faults of tests/faults.py against the real CLIs: exit code, message, and what loads afterwards.

Every case starts fresh interpreters, so all are slow (`make test` and CI run them, `make test-fast` does
not). The long scenarios (a second signal, eval beside training, skipped records, a killed preparation,
full disks: minutes each) are run by `scripts/chaos.py`, which prints the table of all of them.
"""

import pytest

from tests import faults

QUICK = [name for name, (_, quick) in faults.SCENARIOS.items() if quick]


@pytest.mark.slow
@pytest.mark.parametrize('name', QUICK)
def test_fault(name, tmp_path):
    scenario, _ = faults.SCENARIOS[name]
    rows = scenario(tmp_path)
    assert rows
    failed = [row for row in rows if not row.passed]
    assert not failed, '\n\n'.join(row.report() for row in rows)


def test_the_quick_scenarios_cover_signals_locks_shards_and_prepare():
    assert QUICK == [
        'second_train_refused',
        'truncated_shard',
        'records_of_another_length',
        'prepare_refused',
        'train_stop_signal',
    ]
