"""clarinet_ddsp_export: the SavedModel loads with plain TensorFlow and reproduces the model."""

import json
import os
import subprocess
import sys

import inference_runs
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp import export, inference

# Loads the SavedModel in a fresh interpreter that never imports clarinet_ddsp.
_LOADER = r"""
import sys
import numpy as np
import tensorflow as tf
d = np.load(sys.argv[2])
model = tf.saved_model.load(sys.argv[1])
out = {
    'audio_2d': model(tf.constant(d['f0']), tf.constant(d['ld']))['audio'].numpy(),
    'audio_1d': model(tf.constant(d['f0'][0]), tf.constant(d['ld'][0]))['audio'].numpy(),
    'serving': model.signatures['serving_default'](
        f0_hz=tf.constant(d['f0']), loudness_db=tf.constant(d['ld']))['audio'].numpy(),
    'sample_rate': np.array(model.sample_rate_hz.numpy()),
    'imported': np.array(any(m.startswith('clarinet_ddsp') for m in sys.modules)),
}
np.savez(sys.argv[3], **out)
"""


@pytest.fixture(scope='module')
def untrained_run(tmp_path_factory):
    return inference_runs.make_untrained_run(str(tmp_path_factory.mktemp('run')))


def _controls(n_frames, batch=2, seed=0):
    rng = np.random.RandomState(seed)
    f0 = (180.0 + 200.0 * rng.rand(batch, 1) + 5.0 * rng.randn(batch, n_frames)).astype(np.float32)
    ld = (-70.0 + 60.0 * rng.rand(batch, n_frames)).astype(np.float32)
    return f0, ld


@pytest.mark.slow
def test_savedmodel_round_trip_in_fresh_process_matches_in_process_model(untrained_run, tmp_path):
    restored = inference.load_model(untrained_run)
    out_dir = str(tmp_path / 'exported')
    # Small blocks so the 300-frame input spans several (the block joins are exercised too).
    export.export_saved_model(untrained_run, out_dir, restored=restored, block_frames=64)
    synth = inference.ControlsToAudio(
        restored.model, restored.sample_rate, restored.hop_size, block_frames=64
    )
    f0, ld = _controls(300)  # not the training length (128 frames)
    expected = synth(f0, ld)['audio'].numpy()
    expected_1d = synth(f0[0], ld[0])['audio'].numpy()
    assert expected.shape == (2, 300 * restored.hop_size)
    inputs, results = str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')
    np.savez(inputs, f0=f0, ld=ld)

    proc = subprocess.run(
        [sys.executable, '-c', _LOADER, out_dir, inputs, results],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', PYTHONPATH=''),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(results)
    assert not got['imported']
    assert int(got['sample_rate']) == 16000
    scale = np.max(np.abs(expected))
    assert scale > 1e-4
    np.testing.assert_allclose(got['audio_2d'], expected, atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(got['serving'], expected, atol=1e-5 * scale, rtol=0)
    np.testing.assert_allclose(got['audio_1d'], expected_1d, atol=1e-5 * scale, rtol=0)

    with open(os.path.join(out_dir, export.METADATA_FILENAME)) as f:
        meta = json.load(f)
    assert meta['sample_rate'] == 16000 and meta['hop_size'] == 64
    assert meta['num_harmonics'] == 30 and meta['num_noise_amps'] == 16


def test_block_synthesis_matches_the_models_harmonic_synth(untrained_run):
    """ControlsToAudio's harmonic part equals the model's own Harmonic synth at training length."""
    restored = inference.load_model(untrained_run)
    model = restored.model
    n_frames = restored.n_frames_train
    f0, ld = _controls(n_frames, batch=1, seed=3)
    synth = inference.ControlsToAudio(model, restored.sample_rate, restored.hop_size, block_frames=40)
    ours = synth.synthesize(tf.constant(f0), tf.constant(ld))
    harmonic = model.processor_group.additive
    harmonic.precise_phase = True  # float64 phase, as ControlsToAudio (ddsp's float32 drifts)
    model.preprocessor.compute_loudness = False  # use the given loudness, as ControlsToAudio
    outputs = model(
        {'f0_hz': f0, 'loudness_db': ld, 'audio': np.zeros([1, n_frames * 64], np.float32)}, training=False
    )
    reference = outputs['additive']['signal'].numpy()
    np.testing.assert_allclose(
        ours['amplitudes'].numpy(), outputs['additive']['controls']['amplitudes'].numpy(), rtol=1e-6
    )
    err = np.max(np.abs(ours['harmonic'].numpy() - reference)) / np.max(np.abs(reference))
    assert err < 1e-3


def test_block_size_does_not_change_the_audio(untrained_run):
    restored = inference.load_model(untrained_run)
    f0, ld = _controls(90, batch=1, seed=5)
    outs = [
        inference.ControlsToAudio(restored.model, 16000, 64, block_frames=k)(f0, ld)['audio']
        for k in (7, 90, 1000)
    ]
    for out in outs[1:]:
        np.testing.assert_allclose(out.numpy(), outs[0].numpy(), atol=1e-6)


def test_export_names_a_missing_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match='save_dir'):
        export.export_saved_model(str(tmp_path / 'nothing'), str(tmp_path / 'out'))
