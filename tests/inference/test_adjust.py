"""The timbre-transfer notebook's adjustments: octave shift toward the training pitch, loudness mapping."""

import numpy as np
import pytest

from clarinet_ddsp.inference import adjust
from clarinet_ddsp.training import dataset_stats


def _stats(mean_pitch_note: float, loudness_range=(-40.0, -10.0)) -> dict:
    transform = dataset_stats.QuantileTransformer().fit(np.linspace(*loudness_range, 1000))
    return {
        'mean_pitch': mean_pitch_note,
        'mean_pitch_note': mean_pitch_note,
        'quantile_transform': transform,
    }


def _features(midi: float, n: int = 500) -> dict:
    loudness = np.full(n, -80.0, np.float32)
    loudness[50:450] = np.linspace(-70.0, -50.0, 400)
    conf = np.full(n, 0.05, np.float32)
    conf[50:450] = 0.95
    return {
        'f0_hz': np.full(n, 440.0 * 2 ** ((midi - 69) / 12), np.float32),
        'f0_confidence': conf,
        'loudness_db': loudness,
    }


@pytest.mark.parametrize(
    'input_midi, target_midi, octaves',
    [
        (48, 72, 2),  # exactly 2 octaves below
        (61, 62, 0),  # a semitone below: stays (the notebook's ceil would go up an octave)
        (66, 72, 1),  # half an octave: rounds up
        (72, 60, -1),
        (70, 60, -1),  # -0.83 -> -1
        (40, 72, 3),  # 2.67 -> 3
    ],
)
def test_auto_adjust_shifts_by_the_nearest_whole_octaves_toward_the_training_pitch(
    input_midi, target_midi, octaves
):
    features = _features(input_midi)
    adjusted, adjustment = adjust.auto_adjust(features, _stats(target_midi))
    assert adjustment.octave_shift_auto == octaves
    np.testing.assert_allclose(adjusted['f0_hz'], features['f0_hz'] * 2.0**octaves, rtol=1e-6)


def test_auto_adjust_maps_note_loudness_onto_the_training_range():
    features = _features(60)
    adjusted, adjustment = adjust.auto_adjust(features, _stats(60, (-40.0, -10.0)))
    assert adjustment.loudness_mapped
    mask_on, _ = dataset_stats.detect_notes(features['loudness_db'], features['f0_confidence'])
    on = adjusted['loudness_db'][mask_on]
    assert on.min() >= -40.0 - 1e-3 and on.max() <= -10.0 + 1e-3
    assert on.max() - on.min() > 20.0  # spread over the training range
    assert np.all(np.diff(on) >= -1e-4)  # order kept (the input rises monotonically)
    assert np.all(adjusted['loudness_db'][~mask_on] <= features['loudness_db'][~mask_on])


def test_shift_features_semitones_loudness_and_clip():
    features = {
        'f0_hz': np.array([440.0, 20000.0], np.float32),
        'loudness_db': np.array([-30.0, -30.0], np.float32),
    }
    shifted = adjust.shift_features(features, semitones=12.0, loudness_shift_db=-6.0)
    assert shifted['f0_hz'][0] == pytest.approx(880.0, rel=1e-6)
    assert shifted['f0_hz'][1] == pytest.approx(440.0 * 2 ** ((110 - 69) / 12), rel=1e-5)
    np.testing.assert_allclose(shifted['loudness_db'], [-36.0, -36.0])
