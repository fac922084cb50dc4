"""Each fault of tests/faults.py against the real CLIs: exit code, message, and what loads afterwards.

`scripts/chaos.py` runs the same scenarios and prints their table.
"""

import pytest

from tests import faults


def _cases():
    for name, (_, quick) in faults.SCENARIOS.items():
        yield pytest.param(name, id=name, marks=() if quick else pytest.mark.slow)


@pytest.mark.parametrize('name', _cases())
def test_fault(name, tmp_path):
    scenario, _ = faults.SCENARIOS[name]
    rows = scenario(tmp_path)
    assert rows
    failed = [row for row in rows if not row.passed]
    assert not failed, '\n\n'.join(row.report() for row in rows)
