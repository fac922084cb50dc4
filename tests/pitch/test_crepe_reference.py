"""compute_f0 against ddsp 3.7.0's own compute_f0 driving a tf-keras transcription of crepe 0.0.16."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

from clarinet_ddsp import pitch

_HERE = pathlib.Path(__file__).resolve().parent
_REPO = _HERE.parents[1]


def _reference_python():
    configured = os.environ.get('CLARINET_DDSP_REF_PYTHON', '')
    path = pathlib.Path(configured) if configured else _REPO / '.venv-ref' / 'bin' / 'python'
    if not path.exists():
        pytest.fail(f'ddsp 3.7.0 reference interpreter missing ({path}); run `make refenv`.', pytrace=False)
    return str(path)


def _cases(make_tone):
    rng = np.random.default_rng(0)
    cases = {}
    for name, audio in [
        ('odd220', make_tone(220.0, 'odd', secs=0.6)[0]),
        ('vib740', make_tone(740.0, 'vibrato', secs=0.6)[0]),
        ('noise', (0.1 * rng.normal(size=7001)).astype(np.float32)),
    ]:
        for frame_rate, padding in [(250, 'center'), (250, 'same'), (100, 'valid'), (200, 'center')]:
            cases[f'{name}|{frame_rate}|{padding}'] = audio
    return cases


@pytest.mark.parity
@pytest.mark.parametrize('capacity', ['tiny', pytest.param('full', marks=pytest.mark.slow)])
def test_compute_f0_matches_ddsp_with_crepe(capacity, make_tone, tmp_path, request):
    cases = _cases(make_tone)
    np.savez(tmp_path / 'in.npz', **cases)
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS='1',
        PYTHONPATH=str(_REPO / 'tests' / 'parity' / 'ref_stubs'),
        TF_CPP_MIN_LOG_LEVEL='2',
        CUDA_VISIBLE_DEVICES='-1',
    )
    proc = subprocess.run(
        [
            _reference_python(),
            str(_HERE / 'crepe_reference.py'),
            capacity,
            pitch.weights_path(capacity),
            str(tmp_path / 'in.npz'),
            str(tmp_path / 'out.npz'),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = np.load(tmp_path / 'out.npz')
    model = pitch.get_model(capacity)
    worst_f0 = worst_conf = 0.0
    for key, audio in cases.items():
        _, frame_rate, padding = key.split('|')
        f0, conf = pitch.compute_f0(audio, float(frame_rate), viterbi=False, padding=padding, model=model)
        ref_f0, ref_conf = ref[key + '|f0'], ref[key + '|conf']
        assert f0.shape == ref_f0.shape, key
        worst_conf = max(worst_conf, float(np.max(np.abs(conf - ref_conf), initial=0.0)))
        if not key.startswith('noise'):  # on noise the argmax may flip between near-equal bins
            worst_f0 = max(worst_f0, float(np.max(np.abs(f0 / ref_f0 - 1), initial=0.0)))
        np.testing.assert_allclose(conf, ref_conf, atol=1e-4, err_msg=key)
        if not key.startswith('noise'):
            np.testing.assert_allclose(f0, ref_f0, rtol=1e-4, err_msg=key)
    # Rows for the session's parity table (tests/conftest.py), max errors over the 12 cases.
    request.node.user_properties.append(
        ('parity', {'case': f'pitch.compute_f0[{capacity}] f0 (max rel.)', 'error': worst_f0, 'bound': 1e-4})
    )
    request.node.user_properties.append(
        (
            'parity',
            {
                'case': f'pitch.compute_f0[{capacity}] confidence (max abs.)',
                'error': worst_conf,
                'bound': 1e-4,
            },
        )
    )
