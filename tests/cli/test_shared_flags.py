"""Every CLI imports side by side, and a flag two CLIs share means the same whichever came first."""

import json
import subprocess
import sys

import pytest

_CLIS = ('run', 'resynth', 'export', 'prepare_tfrecord', 'make_notes')
_SHARED = ('save_dir', 'output', 'checkpoint', 'reverb', 'crepe_model', 'sample_rate', 'allow_memory_growth')

_PROBE = """
import importlib, json, sys
from absl import flags
for name in sys.argv[1:]:
    importlib.import_module('clarinet_ddsp.cli.' + name)
described = {}
for name in _SHARED_NAMES:
    flag = flags.FLAGS[name]
    described[name] = [flag.default, flag.help, sorted(getattr(flag.parser, 'enum_values', None) or [])]
print(json.dumps(described))
""".replace('_SHARED_NAMES', repr(_SHARED))


def _shared_flags_after_importing(order):
    out = subprocess.run(
        [sys.executable, '-c', _PROBE, *order], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_shared_flags_do_not_depend_on_import_order():
    orders = [_CLIS, tuple(reversed(_CLIS)), ('export', 'make_notes', 'resynth', 'prepare_tfrecord', 'run')]
    seen = [_shared_flags_after_importing(order) for order in orders]
    assert seen[0] == seen[1] == seen[2]
    assert seen[0]['crepe_model'][2] == ['full', 'tiny']


def test_every_cli_imports_in_one_process():
    import importlib

    for name in _CLIS:
        importlib.import_module('clarinet_ddsp.cli.' + name)
