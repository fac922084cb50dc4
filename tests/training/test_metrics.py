"""Loudness and f0 metrics against numpy on synthetic tones of known pitch and level."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import metrics

sys.path.insert(0, os.path.dirname(__file__))
import eval_helpers as h

SEMITONE_440_466 = 12 * np.log2(466.16 / 440.0)  # 0.99998 semitones


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
    from clarinet_ddsp import spectral_ops

    audio = np.stack([h.tone(440.0, amp=0.3), h.tone(523.25, amp=0.2)])
    loudness = np.asarray(
        spectral_ops.compute_loudness(
            audio, sample_rate=h.SAMPLE_RATE, frame_rate=h.FRAME_RATE, padding='same'
        )
    )
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


# --------------------------------------------------------------------------- parity with ddsp 3.7.0
_REFERENCE_SCRIPT = r"""
import sys
import numpy as np
from ddsp.training import metrics, summaries
import ddsp

d = dict(np.load(sys.argv[1]))
out = {}
out['f0_dist'] = np.array([
    np.nan if r is None else r for r in (
        metrics.f0_dist_conf_thresh(d['f0'][i], d['f0_gen'][i], d['conf'][i])
        for i in range(d['f0'].shape[0]))])
out['ld_l1'] = np.array([np.mean(metrics.l1_distance(d['ld'][i], d['ld_gen'][i]))
                         for i in range(d['ld'].shape[0])])
out['logmag'] = summaries.get_spectrogram(d['audio'], size=768).numpy()

# ddsp's CREPE metric aggregation, with compute_f0 answering the given generated f0 curves.
gen_f0 = iter(d['f0_gen'])
ddsp.spectral_ops.compute_f0 = lambda audio, frame_rate, viterbi=True: (next(gen_f0), None)
m = metrics.F0CrepeMetrics(sample_rate=16000, frame_rate=250)
m.update_state({'f0_hz': d['f0'], 'f0_confidence': d['conf']}, d['audio_gen'])
out['crepe_f0_dist'] = np.array(float(m.metrics['f0_dist'].result()))
out['crepe_outlier_ratio'] = np.array(float(m.metrics['outlier_ratio'].result()))
np.savez(sys.argv[2], **out)
"""


def _reference_python():
    import pathlib

    configured = os.environ.get('CLARINET_DDSP_REF_PYTHON', '')
    root = pathlib.Path(__file__).resolve().parents[2]
    path = pathlib.Path(configured) if configured else root / '.venv-ref' / 'bin' / 'python'
    if not path.exists():
        pytest.fail(
            f'Parity: the ddsp 3.7.0 reference interpreter {path} is missing; run '
            '`make refenv` or set CLARINET_DDSP_REF_PYTHON.',
            pytrace=False,
        )
    return str(path), root


@pytest.mark.parity
def test_metrics_and_spectrogram_match_ddsp_reference(tmp_path):
    import subprocess

    rng = np.random.default_rng(3)
    n, t = 6, 50
    f0 = rng.uniform(100, 1000, (n, t))
    semitones = np.stack(
        [
            np.full(t, 1.0),
            rng.normal(0, 0.3, t),
            np.full(t, 20.0),
            rng.normal(0, 2, t),
            np.full(t, -3.0),
            np.zeros(t),
        ]
    )
    f0_gen = f0 * 2 ** (semitones / 12)
    f0_gen[3, :10] = 0.0  # Unvoiced generated frames (hz_to_midi -> 0).
    conf = rng.uniform(0.5, 1.0, (n, t))
    conf[5] = 0.3  # An input that is never confident.
    inputs = {
        'f0': f0,
        'f0_gen': f0_gen,
        'conf': conf,
        'ld': rng.uniform(-80, 0, (n, t)),
        'ld_gen': rng.uniform(-80, 0, (n, t + 1)),
        'audio': rng.normal(0, 0.3, (2, 3000)).astype(np.float32),
        'audio_gen': rng.normal(0, 0.3, (n, 1000)).astype(np.float32),
    }
    np.savez(tmp_path / 'in.npz', **inputs)
    python, root = _reference_python()
    env = dict(
        os.environ,
        TF_USE_LEGACY_KERAS='1',
        CUDA_VISIBLE_DEVICES='-1',
        TF_CPP_MIN_LOG_LEVEL='2',
        PYTHONPATH=str(root / 'tests' / 'parity' / 'ref_stubs'),
    )
    proc = subprocess.run(
        [python, '-c', _REFERENCE_SCRIPT, str(tmp_path / 'in.npz'), str(tmp_path / 'out.npz')],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = np.load(tmp_path / 'out.npz')

    ours = np.array(
        [
            np.nan if r is None else r
            for r in (metrics.f0_dist_conf_thresh(f0[i], f0_gen[i], conf[i]) for i in range(n))
        ]
    )
    np.testing.assert_allclose(ours, ref['f0_dist'], rtol=1e-6, equal_nan=True)
    ld = [metrics.loudness_l1_db(inputs['ld'][i], inputs['ld_gen'][i]) for i in range(n)]
    np.testing.assert_allclose(ld, ref['ld_l1'], rtol=1e-6)
    from clarinet_ddsp.training import summaries

    spec = summaries.log_magnitude_spectrogram(inputs['audio'], size=768)
    np.testing.assert_allclose(spec, ref['logmag'], atol=1e-4)  # ddsp's plotted spectrogram

    gen = iter(f0_gen)
    m = metrics.F0CrepeMetrics(
        16000, 250, f0_fn=lambda audio, *a: (np.stack([next(gen) for _ in audio]), None)
    )
    m.update_state({'f0_hz': f0, 'f0_confidence': conf}, inputs['audio_gen'])
    # ddsp runs CREPE on every example, we skip unreliable inputs: the one unreliable input is
    # last, so both consume the same generated curves in the same order.
    assert m.metrics['f0_dist'].result() == pytest.approx(float(ref['crepe_f0_dist']), rel=1e-6)
    assert m.metrics['outlier_ratio'].result() == pytest.approx(float(ref['crepe_outlier_ratio']), rel=1e-6)
