"""compute_f0 on tones of known pitch, and its framing against ddsp's formula."""

import numpy as np
import pytest

from clarinet_ddsp import pitch, spectral_ops
from tests.pitch.tolerances import F0_RTOL, SALIENCE_ATOL

# Sweeps from 50 Hz to 1760 Hz (A6). Above ~1.8 kHz the pretrained models degrade: CREPE's top bin is
# centred at 2005.5 Hz, and on 1975.5 Hz (B6) tones the full model locks onto f0 / 3 (-1900 cents,
# the same with the plain Keras model), tiny is ~10-20 cents flat; see test_tiny_model_at_range_edges.
SWEEP_HZ = (50.0, 73.4, 110.0, 196.0, 440.0, 880.0, 1318.5, 1760.0)
KINDS = ('sine', 'odd', 'vibrato')
TOLERANCE_CENTS = 10.0


def _check_tone(model, make_tone, cents_error, kind, f0_hz, viterbi=True, tolerance=TOLERANCE_CENTS):
    audio, inst_hz = make_tone(f0_hz, kind)
    f0, confidence = pitch.compute_f0(audio, 250, viterbi=viterbi, padding='center', model=model)
    err = cents_error(f0, inst_hz)
    assert np.max(np.abs(err)) <= tolerance, (
        f'{model.model_capacity} {kind} {f0_hz} Hz: worst steady-frame error {np.max(np.abs(err)):.1f} '
        f'cents, median {np.median(err):.1f}'
    )
    assert f0.dtype == np.float32 and confidence.dtype == np.float32
    assert np.all((confidence >= 0) & (confidence <= 1))


# Full model: a spread of tones in the default run, every tone in the slow tier.
@pytest.mark.parametrize(
    'kind,f0_hz',
    [
        ('sine', 50.0),
        ('sine', 440.0),
        ('odd', 98.0),
        ('odd', 1760.0),
        ('vibrato', 196.0),
        ('vibrato', 1318.5),
    ],
)
def test_full_model_tracks_known_pitch_within_10_cents(full_model, make_tone, cents_error, kind, f0_hz):
    _check_tone(full_model, make_tone, cents_error, kind, f0_hz)


@pytest.mark.slow
@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('f0_hz', SWEEP_HZ)
def test_full_model_sweep_50hz_to_1760hz_within_10_cents(full_model, make_tone, cents_error, kind, f0_hz):
    _check_tone(full_model, make_tone, cents_error, kind, f0_hz)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('f0_hz', SWEEP_HZ[1:])
def test_tiny_model_tracks_known_pitch_within_10_cents(tiny_model, make_tone, cents_error, kind, f0_hz):
    _check_tone(tiny_model, make_tone, cents_error, kind, f0_hz)


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('f0_hz', [50.0, 1975.5])
def test_tiny_model_at_range_edges_within_20_cents(tiny_model, make_tone, cents_error, kind, f0_hz):
    # Measured: 50 Hz 12-18 cents worst (median 5-8 flat), 1975.5 Hz 11-20 cents worst (median ~10 flat).
    _check_tone(tiny_model, make_tone, cents_error, kind, f0_hz, tolerance=20.0)


def test_viterbi_and_local_average_agree_on_a_clean_tone(full_model, make_tone):
    audio, _ = make_tone(330.0, 'odd')
    f0_vit, conf_vit = pitch.compute_f0(audio, 250, viterbi=True, model=full_model)
    f0_avg, conf_avg = pitch.compute_f0(audio, 250, viterbi=False, model=full_model)
    # Same frames in the same batches through the same network: the confidences are bit-identical.
    np.testing.assert_array_equal(conf_vit, conf_avg)  # confidence never depends on the decoding
    inner = slice(3, -3)
    np.testing.assert_allclose(f0_vit[inner], f0_avg[inner], rtol=1e-6)


def test_viterbi_removes_an_octave_glitch_that_local_average_keeps(tiny_model):
    # Salience with one frame's peak an octave up: the HMM's +-11-bin transitions cannot follow it.
    salience = np.zeros([9, 360], np.float32)
    salience[:, 120] = 0.9
    salience[:, 119] = salience[:, 121] = 0.3
    salience[4, 180] = 0.95
    vit = pitch.to_viterbi_cents(salience)
    avg = pitch.to_local_average_cents(salience)
    centre = pitch.decoding.cents_mapping()[120]
    np.testing.assert_allclose(vit, centre, atol=1e-9)
    assert abs(avg[4] - pitch.decoding.cents_mapping()[180]) < 1.0


def _ddsp_n_frames(n_samples, frame_rate, padding):
    """ddsp 3.7.0's frame count, written out independently: get_framed_lengths with hop 16000 // rate."""
    hop = 16000 // frame_rate
    if padding == 'valid':
        return (n_samples - 1024) // hop + 1
    if padding == 'center':
        return (n_samples + 1024 - 1024) // hop + 1
    return -(-n_samples // hop)


@pytest.mark.parametrize('padding', ['same', 'center', 'valid'])
@pytest.mark.parametrize(
    'n_samples,frame_rate',
    [(16000, 250), (64000, 250), (16000, 100), (16001, 250), (4000, 50), (3333, 31.25), (12345, 125)],
)
def test_output_lengths_follow_ddsp_framing(tiny_model, padding, n_samples, frame_rate):
    audio = np.random.default_rng(n_samples).normal(0, 0.1, n_samples).astype(np.float32)
    f0, confidence = pitch.compute_f0(audio, frame_rate, padding=padding, model=tiny_model)
    expected = _ddsp_n_frames(n_samples, int(16000 // frame_rate) and frame_rate, padding)
    assert f0.shape == confidence.shape == (expected,)
    assert spectral_ops.get_framed_lengths(n_samples, 1024, int(16000 // frame_rate), padding)[0] == expected


def test_center_frames_are_centred_on_their_timestamps(tiny_model, make_tone):
    # A tone switching from 220 Hz to 440 Hz at 0.5 s: with 'center' padding frame i is centred at
    # i * 64 samples, so the switch shows up near frame 125; 'same'-like (uncentred) framing would put it
    # near frame 117 (8 frames = half a window earlier). Allow a quarter window either way.
    low, _ = make_tone(220.0, 'odd', secs=0.5)
    high, _ = make_tone(440.0, 'odd', secs=0.5)
    f0, _ = pitch.compute_f0(np.concatenate([low, high]), 250, viterbi=False, model=tiny_model)
    switch = np.flatnonzero(f0 > 311.0)[0]
    assert abs(switch - 125) <= 4


def test_quiet_frames_are_skipped_only_when_asked(tiny_model, make_tone):
    audio, _ = make_tone(440.0, 'odd', secs=0.5)
    audio = np.concatenate([np.zeros(8000, np.float32), audio])
    f0_all, conf_all = pitch.compute_f0(audio, 250, model=tiny_model)
    f0_skip, conf_skip = pitch.compute_f0(audio, 250, model=tiny_model, skip_below_db=-80.0)
    silent = np.arange(len(f0_all)) * 64 + 512 <= 8000  # frames holding only the leading silence
    assert np.all(conf_all[silent] > 0)  # by default the network runs on silence too (as crepe)
    np.testing.assert_array_equal(conf_skip[silent], 0.0)
    np.testing.assert_array_equal(f0_skip[silent], 0.0)
    loud = np.arange(len(f0_all)) * 64 >= 8000 + 512
    # Skipping changes which frames share a network batch, so the loud frames' float32 sums run in
    # other kernels: equal to rounding (tests/pitch/tolerances.py), not bit for bit.
    np.testing.assert_allclose(conf_skip[loud], conf_all[loud], rtol=0, atol=SALIENCE_ATOL)
    np.testing.assert_allclose(f0_skip[loud][3:-3], f0_all[loud][3:-3], rtol=F0_RTOL)


@pytest.mark.parametrize(
    'bad,match',
    [
        (dict(audio=np.zeros([2, 1, 16000], np.float32)), '1-D'),
        (dict(audio=np.array([0.0, np.nan] * 1000, np.float32)), 'NaN'),
        (dict(frame_rate=0), 'frame_rate'),
        (dict(padding='reflect'), 'padding'),
        (dict(audio=np.zeros(500, np.float32), padding='valid'), 'shorter than one CREPE frame'),
        (dict(model_capacity='huge'), 'model_capacity'),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(bad, match):
    args = dict(audio=np.zeros(16000, np.float32), frame_rate=250, padding='center')
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        pitch.compute_f0(**args)


@pytest.mark.parametrize('viterbi', [True, False])
def test_a_batch_of_signals_gets_each_signals_own_f0(tiny_model, make_tone, viterbi):
    signals = np.stack(
        [make_tone(f, 'vibrato', secs=0.7)[0] for f in (110.0, 392.0, 1046.5)]
        + [0.1 * np.random.default_rng(0).normal(size=11200).astype(np.float32)]
    )
    f0, conf = pitch.compute_f0(signals, 250, viterbi=viterbi, model=tiny_model)
    assert f0.shape == conf.shape == (4, 176)
    for i, signal in enumerate(signals):
        f0_one, conf_one = pitch.compute_f0(signal, 250, viterbi=viterbi, model=tiny_model)
        # Equal to rounding (tests/pitch/tolerances.py), not bit for bit: a batch of 4 signals and one
        # signal fill the network's batches differently, and some CPUs' kernels then round the sums
        # otherwise (a Zen 1's AVX2 code: 6.1e-5 Hz at 390 Hz). Another signal's frames would move f0 by bins.
        np.testing.assert_allclose(f0[i], f0_one, rtol=F0_RTOL)
        np.testing.assert_allclose(conf[i], conf_one, rtol=0, atol=SALIENCE_ATOL)


@pytest.mark.parametrize('f0_hz', [110.0, 147.0])
def test_skipping_silent_frames_keeps_the_viterbi_pitch_to_the_end_of_a_note(
    tiny_model, make_tone, cents_error, f0_hz
):
    # A clarinet-like note that stops dead, then digital silence (as a sampler's note ends). Every frame
    # wholly inside the note should read its pitch. crepe's decoding instead slides toward the pitch it
    # guesses for silence, at most 220 cents a frame, so it leaves the note well before it ends; with the
    # silent frames carrying no evidence the path has no reason to move.
    note, inst_hz = make_tone(f0_hz, 'odd', secs=0.6)
    audio = np.concatenate([note, np.zeros(8000, np.float32)])
    inside = slice(0, len(note))
    f0_all, _ = pitch.compute_f0(audio, 250, model=tiny_model)
    f0_skip, conf_skip = pitch.compute_f0(audio, 250, model=tiny_model, skip_below_db=pitch.SILENT_FRAME_DB)
    err_all = cents_error(f0_all[: len(note) // 64 + 1], inst_hz[inside])
    err_skip = cents_error(f0_skip[: len(note) // 64 + 1], inst_hz[inside])
    last_ms = 4 * (len(err_all) - np.flatnonzero(np.abs(err_all) <= 20)[-1] - 1)
    assert np.max(np.abs(err_all)) > 200 and last_ms >= 20, 'crepe decoding no longer slides off the note'
    assert np.max(np.abs(err_skip)) <= 20, f'worst {np.max(np.abs(err_skip)):.0f} cents inside the note'
    silent = np.arange(len(f0_skip)) * 64 - 512 >= len(note)  # 'center' frames holding only silence
    np.testing.assert_array_equal(f0_skip[silent], 0.0)
    np.testing.assert_array_equal(conf_skip[silent], 0.0)
