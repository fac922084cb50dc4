"""clarinet_ddsp_export's library: the SavedModel loads with plain TensorFlow and reproduces the model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from clarinet_ddsp import inference
from clarinet_ddsp.inference import export

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


@pytest.mark.slow
def test_savedmodel_round_trip_in_fresh_process_matches_in_process_model(
    untrained_run, tmp_path, random_controls
):
    restored = inference.load_model(untrained_run)
    out_dir = str(tmp_path / 'exported')
    # Small blocks so the 300-frame input spans several (the block joins are exercised too).
    export.export_saved_model(untrained_run, out_dir, restored=restored, block_frames=64)
    synth = inference.ControlsToAudio(
        restored.model, restored.sample_rate, restored.hop_size, block_frames=64
    )
    f0, ld = random_controls(300)  # not the training length (128 frames)
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


def test_export_names_a_missing_run_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match='save_dir'):
        export.export_saved_model(str(tmp_path / 'nothing'), str(tmp_path / 'out'))
