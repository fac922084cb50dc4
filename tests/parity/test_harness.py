"""The parity harness itself: it fails loudly without the reference, measures errors right, and the
reference outputs it hands to the tests are ddsp's answers to the inputs we generated."""

import importlib.util

import numpy as np
import pytest

from . import _cases
from .conftest import REF_PYTHON_ENV, REPO_ROOT, reference_python, relative_error


def _root_conftest():
    spec = importlib.util.spec_from_file_location(
        '_clarinet_tests_root_conftest', REPO_ROOT / 'tests' / 'conftest.py'
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_reference_env_fails_with_make_refenv(monkeypatch, tmp_path):
    monkeypatch.setenv(REF_PYTHON_ENV, str(tmp_path / 'no-such-venv' / 'bin' / 'python'))
    with pytest.raises(pytest.fail.Exception, match='make refenv'):
        reference_python()


def test_relative_error_is_l2_ratio():
    ref = np.array([3.0, 4.0])  # norm 5
    assert relative_error(ref, ref) == 0.0
    assert relative_error(ref + np.array([0.0, 0.5]), ref) == pytest.approx(0.1)
    assert relative_error(np.array([0.0, 1e-3]), np.zeros(2)) == pytest.approx(1e-3)  # absolute
    with pytest.raises(AssertionError, match='shape mismatch'):
        relative_error(np.zeros(3), np.zeros(2))


def test_case_inputs_are_reproducible_and_float32():
    for case in list(_cases.CASES.values())[::7]:
        first, second = case.inputs(), case.inputs()
        assert sorted(first) == sorted(second)
        for key, value in first.items():
            np.testing.assert_array_equal(value, second[key])
            assert value.dtype in (np.float32, np.int64), (case.name, key, value.dtype)


def test_parity_table_reports_count_and_worst_relative_to_bound():
    table = _root_conftest().format_parity_table(
        [
            {'case': 'a', 'error': 1e-6, 'bound': 1e-5, 'outcome': 'passed'},
            {'case': 'b', 'error': 3e-2, 'bound': 5e-2, 'outcome': 'passed'},
            {'case': 'c', 'error': 5e-5, 'bound': 1e-4, 'outcome': 'passed'},
        ]
    )
    assert 'parity cases run: 3 (0 over bound or failed)' in table
    assert 'worst error relative to its bound: 3.000e-02 / 5e-02 = 0.600 (b)' in table


@pytest.mark.parity
def test_reference_outputs_are_ddsps_answers_to_our_inputs(reference_run):
    # Independent check of the wiring: midi_to_hz through ddsp equals the formula on the same inputs.
    name = 'core.midi_to_hz[2d]'
    notes = reference_run.inputs[name]['x']
    expected = 440.0 * 2.0 ** ((notes.astype(np.float64) - 69.0) / 12.0)
    np.testing.assert_allclose(reference_run.reference(name)['out'], expected, rtol=1e-5)


@pytest.mark.parity
def test_a_small_deviation_is_caught(reference_run):
    # A pitch 0.001 semitone sharp is a 5.8e-5 relative error: over the elementwise bound.
    import clarinet_ddsp.core

    name = 'core.midi_to_hz[2d]'
    sharp = np.asarray(clarinet_ddsp.core.midi_to_hz(reference_run.inputs[name]['x'] + 1e-3))
    error = relative_error(sharp, reference_run.reference(name)['out'])
    assert error > _cases.CASES[name].bound
    assert error == pytest.approx(2 ** (1e-3 / 12) - 1, rel=0.05)
