"""Parity tier harness: runs magenta/ddsp 3.7.0 once per session in its own environment.

The reference lives in .venv-ref (built by `make refenv`; `make test` builds it) and only ever runs as a
separate process with TF_USE_LEGACY_KERAS=1 and tests/parity/ref_stubs on PYTHONPATH. The session
fixture below writes every case's inputs to one .npz, starts reference_cases.py ONCE, and hands each
test the reference outputs. A missing reference environment FAILS the tier (CI must run it).
"""

import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Sequence

import numpy as np
import pytest

from . import _cases

PARITY_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = PARITY_DIR.parents[1]
REF_STUBS = PARITY_DIR / 'ref_stubs'
REF_PYTHON_ENV = 'CLARINET_DDSP_REF_PYTHON'
HARNESS_CASES = {'core.midi_to_hz[2d]'}  # always computed: test_harness.py checks the wiring with it


def parse_our_gin(gin_files: Sequence[str], bindings: Sequence[str] = ()) -> None:
    """Our gin configs in ddsp_run's order (optimization/base, eval/basic, then gin_files, bindings).

    Through clarinet_ddsp.training.gin_config, not clarinet_ddsp.cli.run: a CLI module defines absl
    flags at import, and two CLIs imported into one test process can collide.
    """
    from clarinet_ddsp.training import gin_config

    gin_config.parse_gin('', gin_files, bindings)


def reference_python() -> str:
    """Path of the reference interpreter; fails the test with the fix when the environment is missing."""
    configured = os.environ.get(REF_PYTHON_ENV, '')
    path = pathlib.Path(configured) if configured else REPO_ROOT / '.venv-ref' / 'bin' / 'python'
    if not path.exists():
        where = f'{REF_PYTHON_ENV}={configured}' if configured else f'default {path}'
        pytest.fail(
            f'Parity tier: the magenta/ddsp 3.7.0 reference interpreter is missing ({where}). '
            f'Run `make refenv` (or `make test`, which builds it) in {REPO_ROOT}, or point '
            f'{REF_PYTHON_ENV} at a python with ddsp==3.7.0 installed.',
            pytrace=False,
        )
    return str(path)


_TF_NOISE = ('I0000 ', 'W0000 ', 'E0000 ', 'WARNING: All log messages')


def stderr_tail(stderr: str, n_lines: int) -> str:
    """The last n_lines of a process's stderr, without TensorFlow's start-up chatter."""
    lines = [line for line in stderr.strip().splitlines() if not line.startswith(_TF_NOISE)]
    return '\n'.join(lines[-n_lines:])


def run_reference(
    script: str, args: Sequence[str], timeout: float = 900.0, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Runs tests/parity/<script> in the reference environment; fails the test with its stderr tail."""
    env = dict(os.environ)
    env.update(
        {
            'TF_USE_LEGACY_KERAS': '1',
            'PYTHONPATH': str(REF_STUBS),
            'TF_CPU_ALLOCATOR_USE_BFC': 'true',  # ddsp's model pass: 5x faster on CPU
            'TF_CPP_MIN_LOG_LEVEL': '2',
            'CUDA_VISIBLE_DEVICES': '-1',
            'PYTHONHASHSEED': '0',
        }
    )
    env.update(extra_env or {})
    cmd = [reference_python(), str(PARITY_DIR / script), *args]
    proc = subprocess.run(
        cmd, env=env, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = stderr_tail(proc.stderr, 40)
        hint = ''
        if 'No module named' in proc.stderr:
            hint = ' The reference environment looks incomplete: rerun `make refenv`.'
        pytest.fail(
            f'Reference process failed (exit {proc.returncode}): {" ".join(cmd)}{hint}\n{tail}', pytrace=False
        )
    return proc


class ReferenceRun:
    """Inputs and magenta/ddsp outputs of every case, from one reference process."""

    def __init__(
        self,
        inputs: dict[str, dict[str, np.ndarray]],
        outputs: dict[str, dict[str, np.ndarray]],
        meta: dict,
        model_info: dict,
        wall_secs: float,
    ):
        self.inputs = inputs
        self.outputs = outputs
        self.meta = meta
        self.model_info = model_info
        self.wall_secs = wall_secs

    def reference(self, case_name: str) -> dict[str, np.ndarray]:
        error = self.meta['errors'].get(case_name)
        if error:
            pytest.fail(f'magenta/ddsp 3.7.0 raised on parity case {case_name}:\n{error}', pytrace=False)
        if case_name not in self.outputs:
            pytest.fail(f'No reference output for parity case {case_name}.', pytrace=False)
        return self.outputs[case_name]


def _selected_case_names(session) -> list[str]:
    names = []
    for item in session.items:
        callspec = getattr(item, 'callspec', None)
        if callspec is not None and 'case_name' in callspec.params:
            names.append(callspec.params['case_name'])
    return names


@pytest.fixture(scope='session')
def reference_run(request, tmp_path_factory) -> ReferenceRun:
    """Runs the reference once for the cases (and model summary) this session collected."""
    wanted = set(_selected_case_names(request.session)) | HARNESS_CASES
    work = tmp_path_factory.mktemp('parity')
    inputs = {name: case.inputs() for name, case in _cases.CASES.items() if name in wanted}
    np.savez(
        work / 'inputs.npz', **{f'{c}::{k}': v for c, arrays in inputs.items() for k, v in arrays.items()}
    )
    args = ['--inputs', str(work / 'inputs.npz'), '--outputs', str(work / 'outputs.npz')]
    if _model_tests_selected(request.session):
        args += ['--model_info', str(work / 'model_info.json')]
    start = time.perf_counter()
    run_reference('reference_cases.py', args)
    wall = time.perf_counter() - start
    outputs: dict[str, dict[str, np.ndarray]] = {}
    with np.load(work / 'outputs.npz', allow_pickle=False) as data:
        for key in data.files:
            case, name = key.split('::', 1)
            outputs.setdefault(case, {})[name] = data[key]
    meta = json.loads((work / 'outputs.npz.json').read_text())
    model_info = {}
    if (work / 'model_info.json').exists():
        model_info = json.loads((work / 'model_info.json').read_text())
    sys.stderr.write(
        f'\n[parity] reference process: {len(inputs)} cases in {wall:.1f} s '
        f'(ddsp {meta["ddsp_version"]}, TF {meta["tf_version"]})\n'
    )
    return ReferenceRun(inputs, outputs, meta, model_info, wall)


def _model_tests_selected(session) -> bool:
    return any('test_model_parity' in item.nodeid for item in session.items)


def relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """||ours - ref|| / ||ref|| over all elements (absolute error when ref is all zeros)."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        raise AssertionError(f'shape mismatch: ours {ours.shape} vs reference {ref.shape}')
    if not np.all(np.isfinite(ours)) and not np.array_equal(np.isfinite(ours), np.isfinite(ref)):
        return float('inf')
    finite = np.isfinite(ref)
    diff = np.linalg.norm((ours - ref)[finite])
    norm = np.linalg.norm(ref[finite])
    return float(diff / norm) if norm > 0 else float(diff)


def record_parity(request, case: str, error: float, bound: float, note: str = '') -> None:
    """Adds a row to the session's parity table (printed by tests/conftest.py)."""
    request.node.user_properties.append(
        ('parity', {'case': case, 'error': float(error), 'bound': float(bound), 'note': note})
    )


@pytest.fixture
def parity_record(request):
    """parity_record(case, error, bound, note=''): adds a row to the session's parity table."""
    return lambda case, error, bound, note='': record_parity(request, case, error, bound, note)
