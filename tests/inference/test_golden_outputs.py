"""Inference, resynthesis's piecewise synthesis and the SavedModel reproduce golden_outputs.npz
(written by the code before they moved onto the Processors' streaming methods) within 4e-6."""

import numpy as np
import pytest
import tensorflow as tf

from . import golden

# Absolute, on audio peaking at 0.2-0.8. The file was written on one CPU and is compared on any: there the
# decoder's float32 sums run in other kernels (oneDNN's ISA, XLA's code for the GRU), its outputs (~1-5)
# move by ~1e-6 and exp_sigmoid turns that into amplitude errors of up to ln(10) * 1e-6 = 2.3e-6 relative,
# ~2e-6 on this audio. Measured against the file: 0 with this machine's AVX-512 kernels, 2.4e-7 with AVX2,
# 4.2e-7 with SSE4.1 (the old 1e-6 left 2.4x). A block join, phase or reverb-tail error is >= 1e-4.
TOLERANCE = 4e-6


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
