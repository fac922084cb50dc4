"""Each fault of tests/faults.py against the real CLIs: exit code, message, and what loads afterwards.

`scripts/chaos.py` runs the same scenarios and prints their table. Every case starts fresh interpreters
(20 s to minutes each), so all are slow: `make test` and CI run them, `make test-fast` does not.
"""

import pytest

from tests import faults


@pytest.mark.slow
@pytest.mark.parametrize('name', list(faults.SCENARIOS))
def test_fault(name, tmp_path):
    scenario, _ = faults.SCENARIOS[name]
    rows = scenario(tmp_path)
    assert rows
    failed = [row for row in rows if not row.passed]
    assert not failed, '\n\n'.join(row.report() for row in rows)
