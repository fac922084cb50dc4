"""Spectral features against numpy framing + rfft and the A-weighting formula."""

import sys
import types

import numpy as np
import pytest

import clarinet_ddsp
from clarinet_ddsp import spectral_ops

SR = 16000


def _np_stft_mag(audio, frame_size, hop, pad_end):
    """|rfft| of periodic-hann-windowed frames, numpy only."""
    if pad_end:
        n_frames = -(-audio.shape[-1] // hop)
        padded = (n_frames - 1) * hop + frame_size
        audio = np.pad(audio, [(0, 0), (0, padded - audio.shape[-1])])
    n_frames = 1 + (audio.shape[-1] - frame_size) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_size) / frame_size)
    idx = np.arange(frame_size)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.abs(np.fft.rfft(audio[:, idx] * window, axis=-1))


def _np_a_weighting_db(hz):
    """IEC 61672 A-weighting, R_A(f) normalised to 0 dB at 1 kHz, floored at -80 dB."""
    f2 = hz.astype(np.float64) ** 2
    with np.errstate(divide='ignore'):
        r_a = (12194.0**2 * f2**2) / (
            (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
        )
        return np.maximum(20 * np.log10(r_a) + 2.0, -80.0)


def _np_loudness(audio, n_fft=512, hop=64, padding='center'):
    if padding == 'center':
        audio = np.pad(audio, [(0, 0), (n_fft // 2, n_fft // 2)])
    elif padding == 'same':
        n_frames = -(-audio.shape[-1] // hop)
        audio = np.pad(audio, [(0, 0), (0, (n_frames - 1) * hop + n_fft - audio.shape[-1])])
    power = _np_stft_mag(audio, n_fft, hop, pad_end=False) ** 2
    weights = 10 ** (_np_a_weighting_db(np.fft.rfftfreq(n_fft, 1 / SR)) / 10)
    db = 10 * np.log10(np.maximum((power * weights).mean(-1), 1e-8))
    return np.maximum(db, -80.0)


@pytest.fixture
def audio():
    return (0.3 * np.random.RandomState(0).randn(2, 3000)).astype(np.float32)


@pytest.mark.parametrize('pad_end', [True, False])
def test_stft_magnitude_matches_numpy_rfft_of_windowed_frames(audio, pad_end):
    got = spectral_ops.compute_mag(audio, size=256, overlap=0.75, pad_end=pad_end).numpy()
    expected = _np_stft_mag(audio, 256, 64, pad_end)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_stft_np_matches_numpy_reference(audio):
    got = np.abs(spectral_ops.stft_np(audio, frame_size=256, overlap=0.75, pad_end=True))
    np.testing.assert_allclose(got, _np_stft_mag(audio, 256, 64, True), rtol=1e-4, atol=1e-4)


def test_stft_np_rejects_odd_overlap(audio):
    with pytest.raises(ValueError, match=r'frame_size=100 \* overlap=0.33'):
        spectral_ops.stft_np(audio, frame_size=100, overlap=0.33)


def test_compute_logmag_is_log_of_mag(audio):
    mag = spectral_ops.compute_mag(audio, 128).numpy()
    np.testing.assert_allclose(
        spectral_ops.compute_logmag(audio, 128).numpy(), np.log(np.maximum(mag, 1e-5)), rtol=1e-5, atol=1e-5
    )


def test_mel_of_a_tone_peaks_in_the_band_containing_it():
    t = np.arange(4096) / SR
    tone = np.sin(2 * np.pi * 1000.0 * t)[None].astype(np.float32)
    mel = spectral_ops.compute_mel(tone, lo_hz=0.0, hi_hz=8000.0, bins=64).numpy()
    assert mel.shape[-1] == 64 and mel.min() >= 0
    edges_mel = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 66)
    centers_hz = 700 * (10 ** (edges_mel[1:-1] / 2595) - 1)
    assert abs(int(np.argmax(mel[0].mean(0))) - int(np.argmin(np.abs(centers_hz - 1000)))) <= 1


def test_mfcc_and_logmel_shapes(audio):
    assert spectral_ops.compute_logmel(audio, bins=40).shape[-1] == 40
    assert spectral_ops.compute_mfcc(audio, mfcc_bins=13).shape[-1] == 13


def test_a_weighting_matches_iec_table():
    hz = np.array([100.0, 1000.0, 10000.0])
    np.testing.assert_allclose(spectral_ops.a_weighting_db(hz), [-19.1, 0.0, -2.5], atol=0.1)
    np.testing.assert_allclose(
        spectral_ops.a_weighting_db(np.linspace(10, 8000, 50)),
        _np_a_weighting_db(np.linspace(10, 8000, 50)),
        atol=0.01,
    )


@pytest.mark.parametrize('padding', ['center', 'same', 'valid'])
@pytest.mark.parametrize('use_tf', [True, False])
def test_loudness_matches_numpy_a_weighted_power(audio, padding, use_tf):
    got = np.asarray(spectral_ops.compute_loudness(audio, padding=padding, use_tf=use_tf))
    expected = _np_loudness(audio, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=0.02)


def test_loudness_frame_counts_follow_padding():
    audio = np.zeros([1, 64000], np.float32)
    lengths = {
        p: spectral_ops.compute_loudness(audio, padding=p).shape[-1] for p in ['center', 'same', 'valid']
    }
    assert lengths == {'center': 1001, 'same': 1000, 'valid': 993}
    assert spectral_ops.get_framed_lengths(64000, 512, 64, 'center') == (1001, 64512)
    assert spectral_ops.get_framed_lengths(64000, 512, 64, 'same') == (1000, 64448)


def test_loudness_of_full_scale_1khz_sine_and_silence():
    t = np.arange(16000) / SR
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    loud = spectral_ops.compute_loudness(sine, n_fft=2048).numpy()
    assert loud.ndim == 1
    # Parseval: the rfft bins of a windowed unit sine hold N * sum(w^2) / 4 in total; A-weighting
    # is 0 dB at 1 kHz, and loudness is the mean over the 1025 bins.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
    expected = 10 * np.log10(2048 * np.sum(window**2) / 4 / 1025)
    assert np.median(loud) == pytest.approx(expected, abs=0.2)
    assert np.all(spectral_ops.compute_loudness(np.zeros(16000)).numpy() == -80.0)


def test_unknown_padding_is_rejected_by_name(audio):
    with pytest.raises(ValueError, match=r"padding='full'"):
        spectral_ops.compute_loudness(audio, padding='full')


def test_pad_or_trim_pads_trims_and_rejects_large_differences():
    np.testing.assert_array_equal(
        spectral_ops.pad_or_trim_to_expected_length(np.ones(8), 10), [1] * 8 + [0] * 2
    )
    assert spectral_ops.pad_or_trim_to_expected_length(np.ones([2, 12]), 10).shape == (2, 10)
    with pytest.raises(ValueError, match='expected_len=100'):
        spectral_ops.pad_or_trim_to_expected_length(np.ones(50), 100)


def test_compute_f0_delegates_to_pitch_package(monkeypatch):
    calls = {}

    def fake_compute_f0(audio, frame_rate, viterbi, padding, model_capacity, skip_below_db):
        calls.update(
            frame_rate=frame_rate,
            viterbi=viterbi,
            padding=padding,
            model_capacity=model_capacity,
            skip_below_db=skip_below_db,
        )
        return np.zeros(3, np.float32), np.ones(3, np.float32)

    fake = types.ModuleType('clarinet_ddsp.pitch')
    fake.compute_f0 = fake_compute_f0
    monkeypatch.setitem(sys.modules, 'clarinet_ddsp.pitch', fake)
    monkeypatch.setattr(clarinet_ddsp, 'pitch', fake, raising=False)
    f0, conf = spectral_ops.compute_f0(
        np.zeros(1600), 250, viterbi=False, padding='same', model_capacity='tiny'
    )
    assert calls == dict(
        frame_rate=250, viterbi=False, padding='same', model_capacity='tiny', skip_below_db=None
    )
    assert f0.dtype == np.float32 and conf.shape == (3,)
    spectral_ops.compute_f0(np.zeros(1600), 250, skip_below_db=-70.0)
    assert calls['skip_below_db'] == -70.0
