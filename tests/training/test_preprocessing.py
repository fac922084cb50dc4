"""F0LoudnessPreprocessor scales f0 as MIDI/127 and loudness as dB/80 + 1, like ddsp."""

import numpy as np
import pytest

from clarinet_ddsp.training import preprocessing


@pytest.mark.parametrize('cls', [preprocessing.F0LoudnessPreprocessor, preprocessing.DefaultPreprocessor])
def test_scaling_matches_midi_and_db_formulas(cls):
    f0_hz = np.array([[110.0, 220.0, 440.0, 880.0]], np.float32)
    loudness_db = np.array([[-80.0, -40.0, -20.0, 0.0]], np.float32)
    out = cls(time_steps=4, compute_loudness=False)({'f0_hz': f0_hz, 'loudness_db': loudness_db})
    midi = 69.0 + 12.0 * np.log2(f0_hz / 440.0)
    np.testing.assert_allclose(out['f0_scaled'].numpy()[..., 0], midi / 127.0, rtol=1e-5)
    np.testing.assert_allclose(out['ld_scaled'].numpy()[..., 0], loudness_db / 80.0 + 1.0, rtol=1e-6)
    assert out['f0_hz'].shape == (1, 4, 1)


def test_invert_scaling_round_trips():
    f0, ld = preprocessing.F0LoudnessPreprocessor.invert_scaling(np.float32(69.0 / 127.0), np.float32(0.75))
    np.testing.assert_allclose([float(f0), float(ld)], [440.0, -20.0], rtol=1e-5)


def test_resamples_to_time_steps():
    out = preprocessing.F0LoudnessPreprocessor(time_steps=8, compute_loudness=False)(
        {'f0_hz': np.full([2, 4], 440.0, np.float32), 'loudness_db': np.full([2, 4], -30.0, np.float32)}
    )
    assert out['f0_hz'].shape == (2, 8, 1)
    np.testing.assert_allclose(out['f0_hz'].numpy(), 440.0, rtol=1e-5)


def test_online_f0_power_preprocessor_frames_power_as_numpy():
    import tensorflow as tf

    audio = np.zeros([1, 16000], np.float32)
    audio[0, 8000:] = 0.5  # a step: -80 dB floor, then 20 log10(0.5) = -6.02 dB
    pre = preprocessing.OnlineF0PowerPreprocessor(frame_rate=50, compute_f0=False)
    out = pre(
        {'audio': tf.constant(audio), 'f0_hz': np.full([1, 51], 440.0), 'f0_confidence': np.ones([1, 51])}
    )
    assert out['pw_db'].shape == (1, 51, 1) and out['f0_confidence'].shape == (1, 51)
    padded = np.pad(audio[0], 512)
    frames = np.stack([padded[i * 320 : i * 320 + 1024] for i in range(51)])
    expected = np.maximum(10 * np.log10(np.maximum(np.mean(frames**2, axis=1), 1e-8)), -80.0)
    np.testing.assert_allclose(out['pw_db'][0, :, 0], expected, atol=1e-4)
    np.testing.assert_allclose(out['pw_scaled'][0, :, 0], expected / 80 + 1, atol=1e-5)
    np.testing.assert_allclose(out['f0_scaled'][0, :, 0], 69 / 127, atol=1e-6)


def test_online_f0_power_preprocessor_names_the_data_flags_on_a_frame_mismatch():
    pre = preprocessing.OnlineF0PowerPreprocessor(frame_rate=50, compute_f0=False)
    with pytest.raises(ValueError, match='--frame_rate=50 --center'):
        pre(
            {
                'audio': np.zeros([1, 16000], np.float32),
                'f0_hz': np.ones([1, 250]),
                'f0_confidence': np.ones([1, 250]),
            }
        )
    with pytest.raises(ValueError, match='frame_rate=60 must divide 16000'):
        preprocessing.OnlineF0PowerPreprocessor(frame_rate=60)


def test_online_f0_power_preprocessor_tracks_f0_with_crepe_when_asked():
    t = np.arange(16000) / 16000
    audio = (0.5 * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)[np.newaxis]
    pre = preprocessing.OnlineF0PowerPreprocessor(frame_rate=50, crepe_saved_model_path='tiny')
    out = pre({'audio': audio})
    assert out['f0_hz'].shape == (1, 51, 1)
    cents = 1200 * np.log2(out['f0_hz'][0, 5:-5, 0].numpy() / 330.0)
    assert np.max(np.abs(cents)) < 20


def test_f0_power_preprocessor_prefers_given_power():
    pre = preprocessing.F0PowerPreprocessor(time_steps=10, frame_rate=50, frame_size=1024)
    out = pre({'f0_hz': np.full([1, 5], 440.0), 'power_db': np.full([1, 5], -40.0)})
    np.testing.assert_allclose(out['pw_db'], -40.0)
    np.testing.assert_allclose(out['pw_scaled'], 0.5)
    assert out['f0_hz'].shape == (1, 10, 1)


def _note_ending_at(secs: float) -> np.ndarray:
    t = np.arange(16000) / 16000.0
    return (0.3 * np.sin(2 * np.pi * 440.0 * t) * (t < secs)).astype(np.float32)


def _loudness_from_audio(audio: np.ndarray, exact: bool) -> np.ndarray:
    import tensorflow as tf

    pre = preprocessing.F0LoudnessPreprocessor(time_steps=250, exact_loudness_frames=exact)

    @tf.function(input_signature=[tf.TensorSpec([None, 16000], tf.float32)])
    def run(audio):  # as in training: a traced graph, batch size unknown
        n = tf.shape(audio)[0]
        return pre({'audio': audio, 'f0_hz': tf.fill([n, 250], 440.0), 'loudness_db': tf.zeros([n, 250])})

    return run(audio[np.newaxis])['loudness_db'].numpy()[0, :, 0]


def test_exact_loudness_frames_are_the_frames_resynthesis_feeds():
    from clarinet_ddsp import inference

    audio = _note_ending_at(0.5)
    expected = inference.compute_features(audio, 16000, 64, crepe_model='tiny')['loudness_db']
    assert expected.shape == (250,)
    np.testing.assert_allclose(_loudness_from_audio(audio, exact=True), expected, atol=0.05)


def test_resampled_loudness_frames_run_early_over_a_release():
    audio = _note_ending_at(0.95)
    exact = _loudness_from_audio(audio, exact=True)
    resampled = _loudness_from_audio(audio, exact=False)
    # Frame i of the resampled curve describes audio after i * hop, so the note's fall comes earlier.
    fall = slice(230, 250)
    assert np.max(exact[fall] - resampled[fall]) > 1.0
    first_below = lambda x: int(np.argmax(x < x[200] - 20.0))  # noqa: E731
    assert first_below(resampled) < first_below(exact)
