"""FFT convolution and FIR design against scipy.signal and numpy."""

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from clarinet_ddsp import core


@pytest.fixture
def audio():
    return np.random.RandomState(0).randn(2, 1000).astype(np.float32)


def test_fft_convolve_valid_without_delay_equals_scipy_fftconvolve(audio):
    ir = np.random.RandomState(1).randn(2, 65).astype(np.float32)
    got = core.fft_convolve(audio, ir, padding='valid', delay_compensation=0).numpy()
    expected = np.stack([scipy.signal.fftconvolve(audio[b], ir[b]) for b in range(2)])
    assert got.shape == (2, 1000 + 65 - 1)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_fft_convolve_same_compensates_linear_phase_delay(audio):
    ir = np.random.RandomState(1).randn(1, 65).astype(np.float32)  # batch 1 broadcasts
    got = core.fft_convolve(audio, ir).numpy()
    start = (65 - 1) // 2 - 1
    full = np.stack([scipy.signal.fftconvolve(audio[b], ir[0]) for b in range(2)])
    np.testing.assert_allclose(got, full[:, start : start + 1000], atol=1e-4)


def test_time_varying_fft_convolve_equals_blockwise_convolution_overlap_added(audio):
    irs = np.random.RandomState(2).randn(2, 4, 33).astype(np.float32)
    got = core.fft_convolve(audio, irs, padding='valid', delay_compensation=0).numpy()
    hop = 250
    expected = np.zeros([2, 1000 + 33 - 1])
    for b in range(2):
        for i in range(4):
            block = np.convolve(audio[b, i * hop : (i + 1) * hop], irs[b, i])
            expected[b, i * hop : i * hop + len(block)] += block
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_fft_convolve_rejects_frames_that_do_not_divide_audio(audio):
    with pytest.raises(ValueError, match=r'1000 samples.*gives 334 blocks, not the 335'):
        core.fft_convolve(audio, np.ones([2, 335, 9], np.float32))


def test_fft_convolve_rejects_different_batch_sizes(audio):
    with pytest.raises(ValueError, match=r'audio batch size 2 and impulse_response batch size 3'):
        core.fft_convolve(audio, np.ones([3, 9], np.float32))


def test_frequency_impulse_response_has_the_requested_magnitude_response():
    n_freq = 129
    hz = np.linspace(0.0, 1.0, n_freq)
    mags = (0.2 + np.exp(-(((hz - 0.3) / 0.1) ** 2))).astype(np.float32)[None, None, :]
    ir = core.frequency_impulse_response(mags).numpy()[0, 0]
    assert ir.shape == (2 * (n_freq - 1),)
    response = np.abs(np.fft.rfft(ir))
    np.testing.assert_allclose(response, mags[0, 0], atol=0.03)


def test_frequency_impulse_response_of_flat_magnitudes_is_centred_impulse():
    ir = core.frequency_impulse_response(np.ones([1, 2, 65], np.float32), window_size=0).numpy()
    assert ir.shape == (1, 2, 128)
    expected = np.zeros(128)
    expected[64] = 1.0
    np.testing.assert_allclose(ir[0, 1], expected, atol=1e-6)


def test_frequency_impulse_response_window_size_crops_the_response():
    ir = core.frequency_impulse_response(np.ones([1, 1, 65], np.float32), window_size=33).numpy()
    assert ir.shape == (1, 1, 33)
    # The impulse sits at the group delay that fft_convolve compensates ((33 - 1) // 2 - 1).
    assert np.argmax(np.abs(ir[0, 0])) == 15


def test_frequency_filter_with_flat_magnitudes_returns_the_input(audio):
    out = core.frequency_filter(audio, np.ones([2, 4, 65], np.float32), window_size=64)
    np.testing.assert_allclose(out.numpy(), audio, atol=1e-5)


def test_frequency_filter_full_window_delays_by_two_samples_like_ddsp(audio):
    # ddsp compensates (ir_size - 1) // 2 - 1 = 62 samples, but the impulse sits at 64.
    out = core.frequency_filter(audio, np.ones([2, 4, 65], np.float32), window_size=0).numpy()
    np.testing.assert_allclose(out[:, 2:], audio[:, :-2], atol=1e-5)
    np.testing.assert_allclose(out[:, :2], 0.0, atol=1e-5)


def test_frequency_filter_low_pass_removes_high_frequencies():
    noise = np.random.RandomState(3).uniform(-1, 1, [1, 16000]).astype(np.float32)
    mags = np.zeros([1, 10, 65], np.float32)
    mags[..., :16] = 1.0  # below ~1.9 kHz of 8 kHz
    out = core.frequency_filter(noise, mags, window_size=0).numpy()[0]
    spec = np.abs(np.fft.rfft(out)) ** 2
    hz = np.fft.rfftfreq(16000, 1 / 16000)
    assert spec[hz > 3000].mean() < 1e-3 * spec[hz < 1500].mean()


def test_get_fft_size_power_of_2_and_5_smooth():
    assert core.get_fft_size(1000, 65) == 2048

    def smooth(m):
        return m == 1 or any(m % p == 0 and smooth(m // p) for p in (2, 3, 5))

    for frame, ir in [(1000, 65), (300, 7), (64, 257), (999, 2)]:
        n = core.get_fft_size(frame, ir, power_of_2=False)
        target = frame + ir - 1
        assert n >= target and smooth(n)
        assert not any(smooth(m) for m in range(target, n))


def test_crop_and_compensate_delay_rejects_unknown_padding():
    with pytest.raises(ValueError, match=r"padding='full'.*'same' or 'valid'"):
        core.crop_and_compensate_delay(np.zeros([1, 10]), 5, 3, 'full', 0)


@pytest.mark.parametrize('padding', ['same', 'valid'])
def test_fft_convolve_of_unknown_length_equals_scipy(audio, padding):
    ir = np.random.RandomState(2).randn(1, 300).astype(np.float32)
    convolve = tf.function(
        lambda a: core.fft_convolve(a, ir, padding=padding, delay_compensation=0),
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
    )
    for n in (1000, 725):  # 725 + 300 - 1 = 1024: no FFT larger than needed
        got = convolve(audio[:, :n]).numpy()
        full = np.stack([scipy.signal.fftconvolve(audio[b, :n], ir[0]) for b in range(2)])
        np.testing.assert_allclose(got, full[:, : n if padding == 'same' else None], atol=1e-4)


@pytest.mark.parametrize('window_size', [257, 0])
def test_blockwise_frequency_filter_equals_the_whole_signal_filter(window_size):
    rng = np.random.RandomState(3)
    mags = rng.uniform(0.0, 2.0, (2, 23, 65)).astype(np.float32)
    noise = rng.uniform(-1.0, 1.0, (2, 23 * 64)).astype(np.float32)
    whole = core.frequency_filter(noise, mags, window_size=window_size).numpy()
    for block_frames in (1, 5, 23, 40):
        got = core.blockwise_frequency_filter(
            noise, mags, 64, block_frames=block_frames, window_size=window_size
        )
        np.testing.assert_allclose(got.numpy(), whole, atol=1e-6, err_msg=f'block_frames={block_frames}')
    unknown_length = tf.function(  # as in a SavedModel
        lambda a, m: core.blockwise_frequency_filter(a, m, 64, block_frames=5, window_size=window_size),
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None, None, 65], tf.float32),
        ],
    )
    np.testing.assert_allclose(unknown_length(noise, mags).numpy(), whole, atol=1e-6)
