"""Loudness and f0 metrics against numpy on synthetic tones of known pitch and level."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import metrics

sys.path.insert(0, os.path.dirname(__file__))
import eval_helpers as h  # noqa: E402

SEMITONE_440_466 = 12 * np.log2(466.16 / 440.0)  # 0.99998 semitones


def test_hz_to_midi_known_notes_and_unvoiced_zero():
    np.testing.assert_allclose(metrics.hz_to_midi([440.0, 880.0, 261.6256, 0.0]),
                               [69.0, 81.0, 60.0, 0.0], atol=1e-4)


def test_f0_dist_is_one_semitone_between_440_and_466_hz_curves():
    f0 = np.full(100, 440.0)
    f0_gen = np.full(100, 466.16)
    dist = metrics.f0_dist_conf_thresh(f0, f0_gen, np.ones(100))
    assert dist == pytest.approx(SEMITONE_440_466, abs=1e-6)
    assert dist == pytest.approx(1.0, abs=1e-3)


def test_f0_dist_ignores_frames_where_input_is_not_confident():
    f0 = np.full(10, 440.0)
    f0_gen = np.concatenate([np.full(5, 880.0), np.full(5, 440.0 * 2 ** (3 / 12))])
    conf = np.array([0.1] * 5 + [0.9] * 5)  # The octave error sits on unconfident frames.
    assert metrics.f0_dist_conf_thresh(f0, f0_gen, conf) == pytest.approx(3.0, abs=1e-9)
    assert metrics.f0_dist_conf_thresh(f0, f0_gen, np.full(10, 0.5)) is None


def test_f0_dist_truncates_to_shorter_curve_and_accepts_channel_axis():
    f0 = np.full((1001, 1), 220.0)
    f0_gen = np.full(1000, 220.0 * 2 ** (0.5 / 12))
    assert metrics.f0_dist_conf_thresh(f0, f0_gen, np.ones((1001, 1))) == pytest.approx(0.5)


def test_loudness_l1_is_mean_absolute_db_difference():
    a = np.array([-20.0, -30.0, -40.0, -50.0])
    b = np.array([-26.0, -30.0, -34.0, -50.0])
    assert metrics.loudness_l1_db(a, b) == pytest.approx(3.0)


def test_padding_for_frames_matches_prepare_tfrecord_framing():
    assert metrics.padding_for_frames(64000, 1000, 64) == 'same'
    assert metrics.padding_for_frames(64000, 1001, 64) == 'center'


def test_loudness_metric_measures_6db_gain_change(tmp_path):
    audio = np.stack([h.tone(440.0, amp=0.3), h.tone(330.0, amp=0.1)])
    batch = {'audio': audio, 'loudness_db': h.numpy_loudness(audio)}
    m = metrics.LoudnessMetrics(h.SAMPLE_RATE, h.FRAME_RATE, loudness_fn=h.numpy_loudness)
    dists = m.update_state(batch, 2.0 * audio)
    np.testing.assert_allclose(dists, 20 * np.log10(2.0), atol=1e-3)  # 6.02 dB
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        results = m.flush(step=7)
    assert results['loudness_db'] == pytest.approx(6.0206, abs=1e-3)
    acc, _ = h.read_events(tmp_path)
    assert h.scalar_values(acc, 'metrics/loudness/loudness_db')[7] == pytest.approx(6.0206, abs=1e-3)


def test_loudness_metric_with_package_loudness_sees_6db():
    spectral_ops = pytest.importorskip('clarinet_ddsp.spectral_ops')
    audio = np.stack([h.tone(440.0, amp=0.3), h.tone(523.25, amp=0.2)])
    loudness = np.asarray(spectral_ops.compute_loudness(audio, sample_rate=h.SAMPLE_RATE,
                                                         frame_rate=h.FRAME_RATE, padding='same'))
    # The package's loudness agrees with the numpy A-weighted reference on a steady tone.
    np.testing.assert_allclose(loudness[:, 8:-8], h.numpy_loudness(audio)[:, 8:-8], atol=0.5)
    m = metrics.LoudnessMetrics(h.SAMPLE_RATE, h.FRAME_RATE)
    dists = m.update_state({'audio': audio, 'loudness_db': loudness}, audio * 10 ** (-6 / 20))
    np.testing.assert_allclose(dists, 6.0, atol=1e-2)


def test_f0_crepe_metric_is_one_semitone_for_440_vs_466_hz_tones():
    batch = h.tone_examples(f0s=(440.0,))
    m = metrics.F0CrepeMetrics(h.SAMPLE_RATE, h.FRAME_RATE, f0_fn=h.fft_pitch)
    dists = m.update_state(batch, h.tone(466.16)[np.newaxis])
    assert dists[0] == pytest.approx(1.0, abs=0.02)
    assert m.metrics['outlier_ratio'].result() == 0.0


def test_f0_crepe_metric_counts_far_off_pitch_as_outlier_not_distance():
    batch = h.tone_examples(f0s=(440.0, 440.0))
    m = metrics.F0CrepeMetrics(h.SAMPLE_RATE, h.FRAME_RATE, f0_fn=h.fft_pitch)
    # 2 kHz is 26 semitones above 440 Hz (> OUTLIER_MIDI_THRESH); 440 Hz is on pitch.
    m.update_state(batch, np.stack([h.tone(2000.0), h.tone(440.0)]))
    assert m.metrics['outlier_ratio'].result() == pytest.approx(0.5)
    assert m.metrics['f0_dist'].count == 1
    assert m.metrics['f0_dist'].result() == pytest.approx(0.0, abs=0.02)


def test_f0_crepe_metric_skips_inputs_without_confident_frames(tmp_path):
    batch = h.tone_examples(f0s=(440.0,))
    batch['f0_confidence'][:] = 0.2
    m = metrics.F0CrepeMetrics(h.SAMPLE_RATE, h.FRAME_RATE, f0_fn=h.fft_pitch)
    assert m.update_state(batch, h.tone(440.0)[np.newaxis]) == [None]
    with tf.summary.create_file_writer(str(tmp_path)).as_default():
        assert m.flush(step=1) == {}  # Nothing measured: no misleading 0 written.


def test_f0_crepe_metric_measures_generated_audio_at_other_sample_rate():
    seen = {}

    def pitch(audio, frame_rate, padding, model_capacity):
        seen['n'], seen['capacity'] = audio.size, model_capacity
        return h.fft_pitch(audio, frame_rate, padding)

    batch = {'f0_hz': np.full((1, 128), 440.0), 'f0_confidence': np.ones((1, 128))}
    m = metrics.F0CrepeMetrics(32000, 250, model_capacity='tiny', f0_fn=pitch)
    dists = m.update_state(batch, h.tone(440.0 * 2 ** (2 / 12), 8192, sample_rate=32000)[None])
    assert seen == {'n': 4096, 'capacity': 'tiny'}  # Resampled to CREPE's 16 kHz.
    assert dists[0] == pytest.approx(2.0, abs=0.05)


def test_raw_pitch_accuracy_counts_frames_within_50_cents():
    ref = np.full(4, 440.0)
    est = 440.0 * 2 ** (np.array([0.0, 40.0, 60.0, 1200.0]) / 1200)
    rpa, rca = metrics.raw_pitch_accuracy(ref, est)
    assert rpa == pytest.approx(0.5)  # 0 and 40 cents.
    assert rca == pytest.approx(0.75)  # ... and the octave error, folded.
