"""Resampling against np.interp, index arithmetic and a numpy overlap-add of hann windows."""

import numpy as np
import pytest

from clarinet_ddsp import core


@pytest.fixture
def frames():
    return np.random.RandomState(0).randn(2, 10, 3).astype(np.float32)


def test_linear_resample_with_endpoint_matches_np_interp(frames):
    n_out = 80
    positions = np.arange(n_out) * frames.shape[1] / n_out  # Last frame held at the end.
    got = core.resample(frames, n_out, method='linear').numpy()
    for b in range(2):
        for c in range(3):
            expected = np.interp(positions, np.arange(frames.shape[1]), frames[b, :, c])
            np.testing.assert_allclose(got[b, :, c], expected, rtol=1e-5, atol=1e-6)


def test_linear_resample_without_endpoint_matches_np_interp(frames):
    n_out = 37
    positions = np.arange(n_out) * (frames.shape[1] - 1) / (n_out - 1)
    got = core.resample(frames, n_out, method='linear', add_endpoint=False).numpy()
    expected = np.interp(positions, np.arange(frames.shape[1]), frames[1, :, 2])
    np.testing.assert_allclose(got[1, :, 2], expected, rtol=1e-5, atol=1e-6)
    assert got[1, -1, 2] == pytest.approx(frames[1, -1, 2])


def test_nearest_resample_repeats_frames(frames):
    got = core.resample(frames, 40, method='nearest').numpy()
    np.testing.assert_array_equal(got, np.repeat(frames, 4, axis=1))


def test_window_resample_matches_numpy_overlap_add_of_hann_windows(frames):
    n_out = 60
    hop = n_out // frames.shape[1]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(2 * hop) / (2 * hop))  # periodic hann
    held = np.concatenate([frames, frames[:, -1:]], axis=1)
    expected = np.zeros([2, hop * (held.shape[1] + 1), 3])
    for i in range(held.shape[1]):
        expected[:, i * hop : i * hop + 2 * hop] += held[:, i : i + 1] * window[None, :, None]
    expected = expected[:, hop : hop + n_out]
    got = core.resample(frames, n_out, method='window').numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_window_resample_keeps_constant_envelopes_constant():
    got = core.resample(np.full([1, 5, 1], 0.3, np.float32), 50, method='window').numpy()
    np.testing.assert_allclose(got, 0.3, rtol=1e-6)


def test_resample_keeps_rank_of_1d_2d_and_4d_inputs():
    assert core.resample(np.zeros(5), 20).shape == (20,)
    assert core.resample(np.zeros([2, 5]), 20).shape == (2, 20)
    assert core.resample(np.zeros([2, 5, 4, 3]), 20).shape == (2, 20, 4, 3)


def test_cubic_resample_reproduces_frames_at_frame_positions(frames):
    got = core.resample(frames, 40, method='cubic').numpy()
    np.testing.assert_allclose(got[:, ::4], frames, rtol=1e-5, atol=1e-5)


def test_unknown_resample_method_names_value_and_choices(frames):
    with pytest.raises(ValueError, match=r"method='spline'.*nearest.*linear.*cubic.*window"):
        core.resample(frames, 40, method='spline')


def test_window_resample_rejects_length_not_divisible_by_frames(frames):
    with pytest.raises(ValueError, match=r'n_timesteps=45 is not a multiple of n_frames=10'):
        core.resample(frames, 45, method='window')


def test_window_resample_rejects_downsampling(frames):
    with pytest.raises(ValueError, match='cannot downsample'):
        core.upsample_with_windows(frames, 5)


def test_center_crop_removes_half_frame_each_side():
    x = np.arange(20.0)[None, :]
    np.testing.assert_array_equal(core.center_crop(x, 8), x[:, 4:-4])
