"""A lock held by another process, as a second writer would meet it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from clarinet_ddsp import locks

# Loads locks.py alone: `import clarinet_ddsp` would import TensorFlow (seconds per process).
_HOLDER = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location('locks', sys.argv[3])
locks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(locks)
with locks.hold(sys.argv[1], sys.argv[2], 'holder'):
    print('held', flush=True)
    sys.stdin.readline()
"""


def start(directory: str, name: str) -> subprocess.Popen:
    """A process holding directory/name until a line arrives on its stdin (or it is killed)."""
    proc = subprocess.Popen(
        [sys.executable, '-c', _HOLDER, str(directory), name, locks.__file__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.stdout.readline().strip() != 'held':
        proc.kill()
        raise RuntimeError(f'the lock holder could not take {directory}/{name}')
    return proc


@contextlib.contextmanager
def held(directory: str, name: str) -> Iterator[subprocess.Popen]:
    """directory/name held by another process for the block."""
    proc = start(directory, name)
    try:
        yield proc
    finally:
        proc.communicate('\n', timeout=60)
