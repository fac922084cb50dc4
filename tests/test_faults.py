"""Every fault of tests/faults.py against the real CLIs: exit code, message, and what loads afterwards.

Every case starts fresh interpreters, so all are slow (`make test` and CI run them, `make test-fast` does
not): about 4 minutes for the eleven on an idle 2-core machine. `scripts/chaos.py` runs the same scenarios
and prints them as a table.
"""

import pytest

from tests import faults


@pytest.mark.slow
@pytest.mark.parametrize('name', list(faults.SCENARIOS))
def test_fault(name, tmp_path):
    rows = faults.SCENARIOS[name](tmp_path)
    assert rows
    failed = [row for row in rows if not row.passed]
    assert not failed, '\n\n'.join(row.report() for row in rows)


def test_the_scenarios_cover_signals_locks_eval_shards_prepare_and_full_disks():
    assert list(faults.SCENARIOS) == [
        'second_train_refused',
        'truncated_shard',
        'records_of_another_length',
        'prepare_refused',
        'train_stop_signal',
        'train_two_signals',
        'eval_beside_train',
        'truncated_shard_skipped',
        'prepare_killed',
        'disk_full_train',
        'disk_full_prepare',
    ]
