"""SpectralLoss and mean_difference against numpy STFTs and formulas."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp import losses, spectral_ops


def _np_mag(audio, size):
    """|rfft| of periodic-hann frames, hop size/4, end padding as tf.signal.stft(pad_end=True)."""
    hop = size // 4
    n_frames = -(-audio.shape[-1] // hop)
    audio = np.pad(audio, [(0, 0), (0, n_frames * hop + size - hop - audio.shape[-1])])
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)
    idx = np.arange(size)[None, :] + hop * np.arange(n_frames)[:, None]
    return np.abs(np.fft.rfft(audio[:, idx] * window, axis=-1))


@pytest.fixture
def pair():
    rs = np.random.RandomState(0)
    return (0.5 * rs.randn(2, 2048)).astype(np.float32), (0.5 * rs.randn(2, 2048)).astype(np.float32)


def test_mean_difference_l1_l2_cosine_match_numpy():
    rs = np.random.RandomState(1)
    t, v = rs.randn(3, 4, 5).astype(np.float32), rs.randn(3, 4, 5).astype(np.float32)
    np.testing.assert_allclose(losses.mean_difference(t, v, 'L1'), np.mean(np.abs(t - v)), rtol=1e-5)
    np.testing.assert_allclose(losses.mean_difference(t, v, 'l2'), np.mean((t - v) ** 2), rtol=1e-5)
    np.testing.assert_allclose(
        losses.mean_difference(t, v, 'COSINE'), np.mean(1 - np.sum(t * v, -1)), rtol=1e-5
    )
    w = (rs.rand(3, 4, 5) > 0.5).astype(np.float32)
    np.testing.assert_allclose(
        losses.mean_difference(t, v, 'L1', weights=w), np.mean(np.abs((t - v) * w)), rtol=1e-5
    )


def test_mean_difference_rejects_unknown_loss_type():
    with pytest.raises(ValueError, match=r"loss_type='L3'.*'L1', 'L2', 'COSINE'"):
        losses.mean_difference(np.zeros(3), np.zeros(3), 'L3')


def test_spectral_loss_rejects_unknown_loss_type_at_construction():
    with pytest.raises(ValueError, match=r"SpectralLoss: loss_type='huber'"):
        losses.SpectralLoss(loss_type='huber')


def test_spectral_loss_of_identical_signals_is_zero(pair):
    loss = losses.SpectralLoss(
        logmag_weight=1.0,
        delta_time_weight=1.0,
        delta_freq_weight=1.0,
        cumsum_freq_weight=1.0,
        loudness_weight=1.0,
    )
    assert float(loss(pair[0], pair[0])) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize('loss_type', ['L1', 'L2'])
def test_spectral_loss_terms_match_numpy(pair, loss_type):
    target, value = pair
    sizes = (512, 64)
    weights = dict(
        mag_weight=1.0,
        delta_time_weight=0.5,
        delta_freq_weight=0.25,
        cumsum_freq_weight=0.125,
        logmag_weight=2.0,
    )
    got = float(losses.SpectralLoss(fft_sizes=sizes, loss_type=loss_type, **weights)(target, value))
    diff = (
        (lambda a, b: np.mean(np.abs(a - b))) if loss_type == 'L1' else (lambda a, b: np.mean((a - b) ** 2))
    )
    expected = 0.0
    for size in sizes:
        t, v = _np_mag(target, size), _np_mag(value, size)
        expected += weights['mag_weight'] * diff(t, v)
        expected += weights['delta_time_weight'] * diff(np.diff(t, axis=1), np.diff(v, axis=1))
        expected += weights['delta_freq_weight'] * diff(np.diff(t, axis=2), np.diff(v, axis=2))
        expected += weights['cumsum_freq_weight'] * diff(np.cumsum(t, 2), np.cumsum(v, 2))
        expected += weights['logmag_weight'] * diff(np.log(np.maximum(t, 1e-5)), np.log(np.maximum(v, 1e-5)))
    assert got == pytest.approx(expected, rel=1e-4)


def test_spectral_loss_loudness_term_is_l1_of_loudness(pair):
    target, value = pair
    got = float(losses.SpectralLoss(mag_weight=0.0, loudness_weight=1.0)(target, value))
    expected = np.mean(
        np.abs(
            spectral_ops.compute_loudness(target, n_fft=2048, use_tf=False)
            - spectral_ops.compute_loudness(value, n_fft=2048, use_tf=False)
        )
    )
    assert got == pytest.approx(expected, rel=1e-3)


def test_spectral_loss_loudness_term_at_another_window(pair):
    # A 512-sample window (the loudness feature's) instead of ddsp's 2048; the numpy path as reference.
    target, value = pair
    got = float(losses.SpectralLoss(mag_weight=0.0, loudness_weight=1.0, loudness_n_fft=512)(target, value))
    expected = np.mean(
        np.abs(
            spectral_ops.compute_loudness(target, n_fft=512, use_tf=False)
            - spectral_ops.compute_loudness(value, n_fft=512, use_tf=False)
        )
    )
    assert got == pytest.approx(expected, rel=1e-3)
    with pytest.raises(ValueError, match='loudness_n_fft=0'):
        losses.SpectralLoss(loudness_n_fft=0)


def test_spectral_loss_default_sizes_losses_dict_and_gradient(pair):
    loss = losses.SpectralLoss()
    assert loss.fft_sizes == (2048, 1024, 512, 256, 128, 64)
    audio = tf.Variable(pair[1])
    with tf.GradientTape() as tape:
        value = loss.get_losses_dict(pair[0], audio)['spectral_loss']
    grad = tape.gradient(value, audio)
    assert float(value) > 0 and float(tf.norm(grad)) > 0


def test_spectral_loss_from_gin():
    gin.clear_config()
    gin.parse_config(
        'losses.SpectralLoss.loss_type = "L1"\n'
        'losses.SpectralLoss.mag_weight = 1.0\n'
        'losses.SpectralLoss.logmag_weight = 1.0'
    )
    try:
        loss = gin.get_configurable('losses.SpectralLoss')()
    finally:
        gin.clear_config()
    assert loss.logmag_weight == 1.0 and loss.loss_type == 'L1'
