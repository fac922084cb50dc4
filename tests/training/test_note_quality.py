"""note_quality: the pitch split, note segmentation and the figures, against hand-computed values."""

import numpy as np
import pytest

from clarinet_ddsp.training import note_quality as nq

FRAME_RATE = 250


def test_split_holds_out_every_third_pitch_with_all_its_dynamics():
    # Pitches 60..66 at three dynamics each, shuffled: distinct pitches sorted are 60..66, so the
    # 2nd and 5th (61 and 64) are held out, with all three files of each.
    rng = np.random.default_rng(0)
    pitches = [p for p in range(60, 67) for _ in range(3)]
    order = rng.permutation(len(pitches))
    shuffled = [pitches[i] for i in order]
    train, test = nq.split_by_pitch(shuffled, every=3)
    assert sorted(shuffled[i] for i in test) == [61, 61, 61, 64, 64, 64]
    assert sorted(train + test) == list(range(len(pitches)))
    assert not {shuffled[i] for i in train} & {61, 64}


def test_split_rejects_too_few_pitches_naming_them():
    with pytest.raises(ValueError, match=r'2 distinct pitch\(es\) \[60, 62\]'):
        nq.split_by_pitch([60, 62, 62], every=3)
    with pytest.raises(ValueError, match='every=1'):
        nq.split_by_pitch([60, 61, 62], every=1)


def test_segments_attacks_and_releases_of_two_notes():
    # Silence (-80 dB), a note at -20 dB from 0.2 s to 1.0 s, a 0.02 s dip (bridged), a second note
    # 1.2..2.0 s after 0.2 s of silence, and a 0.04 s blip (too short to be a note).
    ld = np.full(FRAME_RATE * 3, -80.0)
    ld[50:250] = -20.0
    ld[125:130] = -70.0  # 5 frames = 0.02 s < MIN_GAP_SECS: still one note
    ld[300:500] = -25.0
    ld[600:610] = -30.0  # 10 frames = 0.04 s < MIN_NOTE_SECS
    segments = nq.note_segments(ld, FRAME_RATE)
    assert segments == [(50, 250), (300, 500)]
    masks = nq.note_masks(segments, ld.size, FRAME_RATE)
    edge = 25  # 0.1 s at 250 frames/s
    assert np.flatnonzero(masks.attack).tolist() == list(range(50, 50 + edge)) + list(range(300, 300 + edge))
    assert np.flatnonzero(masks.release).tolist() == list(range(250 - edge, 250)) + list(
        range(500 - edge, 500)
    )
    assert np.flatnonzero(masks.tail).tolist() == list(range(250, 275)) + list(range(500, 525))
    assert masks.note.sum() == 400


def test_figures_of_a_known_offset_and_detune():
    n = 500
    mask = np.zeros(n, bool)
    mask[100:400] = True
    f0 = np.full(n, 220.0)
    conf = np.ones(n)
    conf[100:150] = 0.3  # not confident: not compared
    out_f0 = np.full(n, 220.0 * 2 ** (7 / 1200))  # 7 cents sharp
    out_f0[150:160] = 0.0  # no pitch: 1200 cents each
    expected = (240 * 7 + 10 * 1200) / 250
    assert nq.f0_error_cents(f0, out_f0, conf, mask) == pytest.approx(expected, rel=1e-9)
    ld = np.linspace(-60, -10, n)
    assert nq.mean_abs_db(ld + 3.0, ld, mask) == pytest.approx(3.0)
    assert nq.mean_abs_db(ld, ld, np.zeros(n, bool)) is None


def test_baselines_match_the_frame_rms_and_pitch():
    sr, hop = 16000, 64
    n_frames = 250
    f0 = np.full(n_frames, 200.0)
    rms = np.full(n_frames, 0.1)
    t = np.arange(n_frames * hop) / sr
    sine = nq.oscillator_baseline(f0, rms, hop, sr, 'sine')
    np.testing.assert_allclose(sine, 0.1 * np.sqrt(2) * np.sin(2 * np.pi * 200.0 * (t + 1 / sr)), atol=1e-5)
    odd = nq.oscillator_baseline(f0, rms, hop, sr, 'odd')
    assert np.sqrt(np.mean(odd**2)) == pytest.approx(0.1, rel=1e-3)
    spectrum = np.abs(np.fft.rfft(odd))
    bins = np.fft.rfftfreq(odd.size, 1 / sr)
    at = lambda hz: spectrum[np.argmin(np.abs(bins - hz))]
    assert at(600.0) / at(200.0) == pytest.approx(1 / 3, rel=1e-3)  # odd harmonics at 1/k
    assert at(400.0) / at(200.0) < 1e-3  # no even ones
    np.testing.assert_allclose(nq.frame_rms(odd, hop), 0.1, rtol=0.05)


def test_spectral_distance_is_zero_for_equal_signals_and_grows_with_level_error():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(8000).astype(np.float32) * 0.1
    assert nq.spectral_distance(x, x) == pytest.approx(0.0, abs=1e-6)

    # Log-magnitude part: |log(2 m) - log(m)| = log 2 on every bin of every scale (6 of them); linear
    # part: the mean magnitude of each scale (numpy STFT: periodic Hann, hop size / 4, end zero-padded).
    def mean_mag(size):
        hop = size // 4
        n_frames = -(-x.size // hop)
        padded = np.pad(x.astype(np.float64), (0, (n_frames - 1) * hop + size - x.size))
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)
        frames = np.stack([padded[i * hop : i * hop + size] * window for i in range(n_frames)])
        return np.mean(np.abs(np.fft.rfft(frames, axis=1)))

    expected = 6 * np.log(2.0) + sum(mean_mag(s) for s in nq.SPECTRAL_FFT_SIZES)
    assert nq.spectral_distance(x, 2 * x) == pytest.approx(expected, rel=1e-3)


def test_medians_skip_missing_figures():
    per_file = [
        dict.fromkeys(nq.FIGURES, 1.0),
        dict.fromkeys(nq.FIGURES, 3.0),
        {**dict.fromkeys(nq.FIGURES, 5.0), 'tail_db': None},
    ]
    medians = nq.median_figures(per_file)
    assert medians['loudness_l1_db'] == 3.0
    assert medians['tail_db'] == 2.0
