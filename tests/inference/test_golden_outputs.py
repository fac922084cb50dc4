"""Inference, resynthesis's piecewise synthesis and the SavedModel reproduce golden_outputs.npz
(written by the code before they moved onto the Processors' streaming methods) within 1e-6."""

import numpy as np
import pytest
import tensorflow as tf

from . import golden

TOLERANCE = 1e-6  # absolute, on audio peaking at 0.2-0.8


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp('golden_run'))
    return run_dir, golden.restored_model(run_dir)


@pytest.fixture(scope='module')
def expected():
    return dict(np.load(golden.GOLDEN_PATH))


def test_inference_and_piecewise_synthesis_equal_the_golden_outputs(run, expected):
    ours = golden.outputs(run[1])
    assert sorted(ours) == sorted(expected)
    for key, value in expected.items():
        assert ours[key].shape == value.shape, key
        if key not in ('f0', 'ld', 'pieces_f0', 'pieces_ld'):
            assert np.max(np.abs(value)) > 0.05, key  # a silent part would prove nothing
        np.testing.assert_allclose(ours[key], value, atol=TOLERANCE, rtol=0, err_msg=key)


@pytest.mark.slow  # tracing and saving the SavedModel
def test_savedmodel_equals_the_golden_outputs(run, expected, tmp_path):
    from clarinet_ddsp.inference import export

    run_dir, restored = run
    out_dir = str(tmp_path / 'exported')
    export.export_saved_model(run_dir, out_dir, restored=restored, block_frames=golden.BLOCK_FRAMES)
    model = tf.saved_model.load(out_dir)
    audio = model(tf.constant(expected['f0']), tf.constant(expected['ld']))['audio'].numpy()
    np.testing.assert_allclose(audio, expected['audio'], atol=TOLERANCE, rtol=0)
    audio_1d = model(tf.constant(expected['f0'][0]), tf.constant(expected['ld'][0]))['audio'].numpy()
    np.testing.assert_allclose(audio_1d, expected['audio_1d'], atol=TOLERANCE, rtol=0)
