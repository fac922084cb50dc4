"""Resynthesis (timbre transfer) end to end through a briefly trained model."""

import inference_runs
import numpy as np
import pytest

from clarinet_ddsp import spectral_ops
from clarinet_ddsp.data_prep import voice_model
from clarinet_ddsp.inference import resynth


@pytest.mark.slow
def test_resynthesised_sung_vowel_follows_the_input_pitch_within_50_cents():
    run_dir, _ = inference_runs.trained_run()
    audio, _ = voice_model.sung_vowel((55, 57, 59, 60, 62, 64, 62, 59), note_secs=0.4)
    result = resynth.resynthesize(run_dir, audio=audio, auto_adjust_features=False, crepe_model='tiny')
    out = result['audio']
    assert out.shape == result['features']['audio'].shape
    assert 0.01 < np.max(np.abs(out)) < 5.0
    f0_out, conf_out = spectral_ops.compute_f0(out, 250, padding='same', model_capacity='tiny')
    f0_in = result['features']['f0_hz']
    conf_in = result['features']['f0_confidence']
    n = min(f0_out.size, f0_in.size)
    voiced = (conf_in[:n] > 0.8) & (result['features']['loudness_db'][:n] > -45.0)
    assert voiced.sum() > 0.5 * n
    cents = np.abs(inference_runs.cents(f0_out[:n], f0_in[:n]))[voiced]
    assert np.median(cents) < 20.0, np.median(cents)
    assert np.mean(cents < 50.0) > 0.95, np.percentile(cents, [50, 90, 95, 99])
