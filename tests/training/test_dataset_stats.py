"""Dataset statistics for timbre transfer: smoothing, quantile transform, note detection, the saved
JSON, and parity with ddsp 3.7.0's postprocessing."""

import json
import os
import subprocess

import inference_runs
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import data, dataset_stats


def test_smooth_equals_tensorflow_conv1d_same_box_filter():
    x = np.random.RandomState(0).rand(2, 57)
    for size in (3, 40):
        w = tf.ones([size, 1, 1]) / size
        expected = tf.nn.conv1d(tf.constant(x[:, :, None], tf.float32), w, 1, 'SAME')[:, :, 0]
        np.testing.assert_allclose(dataset_stats.smooth(x, size), expected.numpy(), atol=1e-6)


def test_quantile_transform_agrees_with_numpy_percentiles():
    x = np.random.RandomState(1).normal(-30.0, 8.0, size=5000)
    transform = dataset_stats.QuantileTransformer().fit(x)
    for q in (0.1, 0.25, 0.5, 0.9):
        value = np.percentile(x, 100 * q)
        assert transform.transform(np.array([value]))[0] == pytest.approx(q, abs=2e-3)
        assert transform.inverse_transform(np.array([q]))[0] == pytest.approx(value, abs=0.05)
    round_trip = dataset_stats.QuantileTransformer.from_dict(json.loads(json.dumps(transform.to_dict())))
    np.testing.assert_allclose(round_trip.transform(x[:50]), transform.transform(x[:50]))


def test_detect_notes_finds_the_loud_confident_span():
    loudness = np.full(400, -75.0)
    loudness[100:300] = -20.0
    confidence = np.full(400, 0.1)
    confidence[100:300] = 0.95
    mask_on, _ = dataset_stats.detect_notes(loudness, confidence)
    assert mask_on[130:270].all()
    assert not mask_on[:80].any() and not mask_on[320:].any()


def test_statistics_from_features_report_pitch_and_note_loudness():
    n = 300
    f0 = np.stack([np.full(n, 220.0), np.full(n, 440.0)])  # MIDI 57 and 69
    conf = np.full((2, n), 0.95)
    loud = np.stack([np.linspace(-40.0, -20.0, n), np.linspace(-30.0, -10.0, n)])
    stats = dataset_stats.statistics_from_features(f0, conf, loud)
    assert stats['mean_pitch'] == pytest.approx(63.0, abs=1e-6)
    assert stats['mean_pitch_note'] == pytest.approx(63.0, abs=0.5)
    assert stats['n_examples'] == 2 and stats['n_frames'] == 2 * (n - 20)  # ddsp trims 20 frames
    assert -40.5 < stats['min_loudness_note'] < stats['max_loudness_note'] < -10.0
    json.dumps(stats)  # JSON-ready


def test_save_dataset_statistics_reads_a_tfrecord_provider(tmp_path):
    pattern = inference_runs.write_tfrecords(
        str(tmp_path / 'tf' / 'train.tfrecord'), midi_notes=(60, 72), levels=(0.3,)
    )
    provider = data.TFRecordProvider(pattern, example_secs=inference_runs.EXAMPLE_SECS)
    path = dataset_stats.save_dataset_statistics(provider, str(tmp_path / 'run'))
    stats = dataset_stats.load_dataset_statistics(str(tmp_path / 'run'))
    assert os.path.basename(path) == 'dataset_statistics.json'
    assert stats['n_examples'] == 2
    assert stats['mean_pitch'] == pytest.approx(66.0, abs=1e-3)
    assert isinstance(stats['quantile_transform'], dataset_stats.QuantileTransformer)


_REF_SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
from ddsp.training import postprocessing as pp
d = dict(np.load(sys.argv[1]))
# ddsp computes power at 50 Hz and indexes it with the 250 Hz note mask (an IndexError in ddsp
# itself); power statistics are not ours to compare, so give power the loudness frame count.
pp.spectral_ops.compute_power = lambda audio, **kw: np.zeros(
    (audio.shape[0], d['loudness_db'].shape[1]), np.float32)

class Provider:
    def get_batch(self, batch_size, shuffle=True, repeats=1):
        keys = ('audio', 'f0_hz', 'f0_confidence', 'loudness_db')
        return tf.data.Dataset.from_tensor_slices({k: d[k] for k in keys}).batch(batch_size)

stats = pp.compute_dataset_statistics(Provider(), batch_size=2)
mask, ratio = pp.detect_notes(d['loudness_db'][0], d['f0_confidence'][0])
qt = stats['quantile_transform']
_, norm = pp.fit_quantile_transform(d['input_loudness'], d['input_mask'], inv_quantile=qt)
out = {k: np.float64(v) for k, v in stats.items() if k != 'quantile_transform'}
out.update(quantiles=qt.quantiles_[:, 0], mask=mask, ratio=ratio, norm=norm[:, 0])
np.savez(sys.argv[2], **out)
"""


@pytest.mark.parity
def test_dataset_statistics_and_loudness_mapping_match_ddsp(tmp_path):
    ref_python = os.environ.get('CLARINET_DDSP_REF_PYTHON') or os.path.join(
        inference_runs.REPO, '.venv-ref', 'bin', 'python'
    )
    if not os.path.exists(ref_python):
        pytest.fail(
            f'Parity tier: no reference interpreter at {ref_python}; run `make refenv` or '
            'set CLARINET_DDSP_REF_PYTHON.',
            pytrace=False,
        )
    rng = np.random.RandomState(0)
    n_ex, n_frames = 4, 250
    notes = rng.uniform(50, 80, size=(n_ex, 1))
    f0 = (440.0 * 2 ** ((notes + 0.2 * rng.randn(n_ex, n_frames) - 69) / 12)).astype(np.float32)
    conf = np.clip(rng.uniform(0.5, 1.1, (n_ex, n_frames)), 0, 1).astype(np.float32)
    conf[:, :40] = 0.05
    loud = np.linspace(-60, -10, n_frames)[None] + rng.randn(n_ex, n_frames)
    loud[:, :40] = -80.0
    loud = loud.astype(np.float32)
    audio = (0.1 * rng.randn(n_ex, 16000)).astype(np.float32)
    in_loud = np.linspace(-70.0, -40.0, 300).astype(np.float32)
    in_mask = np.zeros(300, bool)
    in_mask[30:270] = True
    inputs, outputs = str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')
    np.savez(
        inputs,
        audio=audio,
        f0_hz=f0,
        f0_confidence=conf,
        loudness_db=loud,
        input_loudness=in_loud,
        input_mask=in_mask,
    )
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS='1',
        CUDA_VISIBLE_DEVICES='-1',
        TF_CPP_MIN_LOG_LEVEL='2',
        PYTHONPATH=os.path.join(inference_runs.REPO, 'tests', 'parity', 'ref_stubs'),
    )
    proc = subprocess.run(
        [ref_python, '-c', _REF_SCRIPT, inputs, outputs],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = np.load(outputs)

    ours = dataset_stats.statistics_from_features(f0, conf, loud)
    for key in (
        'mean_pitch',
        'std_pitch',
        'mean_max_pitch',
        'mean_pitch_note',
        'min_pitch_note',
        'mean_loudness',
        'mean_loudness_note',
        'max_loudness_note',
        'mean_min_loudness_note',
        'std_loudness_note',
    ):
        assert ours[key] == pytest.approx(float(ref[key]), rel=1e-4, abs=1e-3), key
    np.testing.assert_allclose(
        ours['quantile_transform']['quantiles'], ref['quantiles'], rtol=1e-5, atol=1e-4
    )
    mask, ratio = dataset_stats.detect_notes(loud[0], conf[0])
    np.testing.assert_array_equal(mask, ref['mask'])
    np.testing.assert_allclose(ratio, ref['ratio'], rtol=1e-4, atol=1e-5)
    transform = dataset_stats.QuantileTransformer.from_dict(ours['quantile_transform'])
    _, norm = dataset_stats.fit_quantile_transform(in_loud, in_mask, inv_quantile=transform)
    np.testing.assert_allclose(norm[:, 0], ref['norm'], rtol=1e-4, atol=1e-3)
