"""clarinet_ddsp.training.inference: ddsp.training.inference's names on a training run (an untrained run of
the shrunk solo-instrument model)."""

import gin
import inference_runs
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.inference import restore
from clarinet_ddsp.training import inference


def test_parse_operative_config_takes_the_run_or_a_checkpoint(untrained_run):
    for where in (untrained_run, f'{untrained_run}/ckpt-0'):
        path = inference.parse_operative_config(where)
        assert path == f'{untrained_run}/operative_config-0.gin'
        assert gin.query_parameter('RnnFcDecoder.ch') == 32
        gin.clear_config()


def test_autoencoder_inference_rebuilds_the_run_at_another_length(untrained_run, random_controls, tmp_path):
    trained = restore.load_model(untrained_run).model
    weights = [v.numpy() for v in trained.weights]
    model = inference.AutoencoderInference(untrained_run, length_seconds=2 * inference_runs.EXAMPLE_SECS)
    n_frames, n_samples = 2 * inference_runs.N_FRAMES, 2 * inference_runs.N_SAMPLES
    assert (model.n_frames, model.n_samples, model.hop_size) == (n_frames, n_samples, 64)
    # The run's weights (in creation order), in a model built for the new length.
    assert len(weights) == len(model.model.weights)
    for value, v in zip(weights, model.model.weights):
        np.testing.assert_array_equal(v.numpy(), value, err_msg=v.path)
    f0, ld = random_controls(n_frames, batch=1)
    outputs = model({'f0_hz': f0, 'loudness_db': ld})
    assert outputs['audio_synth'].shape == (1, n_samples)
    # remove_reverb: 'audio_synth' is the signal going into the final reverb, not the reverb's output.
    np.testing.assert_array_equal(outputs['audio_synth'].numpy(), outputs['add']['signal'].numpy())
    assert not np.allclose(outputs['audio_synth'].numpy(), outputs['reverb']['signal'].numpy())

    # The SavedModel serves the same controls: f0 [n_frames], loudness [n_frames].
    model.save_model(str(tmp_path / 'saved'))
    served = tf.saved_model.load(str(tmp_path / 'saved')).signatures['serving_default'](
        f0_hz=tf.constant(f0[0]), db=tf.constant(ld[0])
    )
    assert served['audio_synth'].shape[-1] == n_samples
    for key in ('amps', 'harmonic_distribution', 'noise_magnitudes'):
        np.testing.assert_allclose(
            served[key].numpy(), outputs[key].numpy().reshape(served[key].shape), atol=1e-6
        )
    gin.clear_config()


def test_autoencoder_inference_names_a_length_under_one_frame(untrained_run):
    with pytest.raises(ValueError, match='length_seconds=0.001 is under one frame'):
        inference.AutoencoderInference(untrained_run, length_seconds=0.001)
    gin.clear_config()


def test_ddsp_vst_classes_point_to_the_vst_export():
    with pytest.raises(AttributeError, match='clarinet_ddsp_export --vst'):
        inference.VSTStatelessPredictControls  # noqa: B018
    with pytest.raises(AttributeError, match='has no attribute'):
        inference.NoSuchThing  # noqa: B018
