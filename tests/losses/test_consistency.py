"""Parameter and consistency losses against numpy and scipy (Wasserstein distance, Gaussian mixtures)."""

import gin
import numpy as np
import pytest
import scipy.special
import scipy.stats

from clarinet_ddsp import losses
from clarinet_ddsp.losses import consistency


def _midi(hz):
    return 12 * np.log2(hz / 440.0) + 69


def test_param_loss_is_weighted_mean_difference():
    rng = np.random.default_rng(0)
    a, b, w = (rng.uniform(size=[2, 5, 3]).astype(np.float32) for _ in range(3))
    np.testing.assert_allclose(
        losses.ParamLoss(weight=2.0)(a, b, w), 2.0 * np.mean(np.abs((a - b) * w)), rtol=1e-5
    )
    np.testing.assert_allclose(losses.ParamLoss(loss_type='L2')(a, b), np.mean((a - b) ** 2), rtol=1e-5)


def test_amp_and_freq_losses_compare_log10_amplitudes_and_midi():
    amp, target = np.array([1e-7, 0.1, 1.0], np.float32), np.array([1e-3, 1.0, 1.0], np.float32)
    expected = np.mean(np.abs(np.log10(np.maximum(amp, 1e-5)) - np.log10(target)))
    np.testing.assert_allclose(losses.amp_loss(amp, target, log=True), expected, rtol=1e-5)
    f, f_target = np.array([220.0, 440.0], np.float32), np.array([440.0, 440.0], np.float32)
    np.testing.assert_allclose(losses.freq_loss(f, f_target), 6.0, rtol=1e-5)  # one octave in two


def test_harmonic_consistency_loss_masks_quiet_frames_and_names_three_terms():
    amp_t = np.array([[[1.0], [0.0]]], np.float32)  # the second frame is below amp_threshold
    dist, dist_t = np.zeros([1, 2, 3], np.float32), np.ones([1, 2, 3], np.float32)
    f0, f0_t = np.array([[[440.0], [100.0]]], np.float32), np.array([[[880.0], [440.0]]], np.float32)
    loss = losses.HarmonicConsistencyLoss(amp_weight=1.0, dist_weight=2.0, f0_weight=3.0)
    terms = loss.get_losses_dict(amp_t, amp_t, dist, dist_t, f0, f0_t)
    assert sorted(terms) == ['f0_hz_loss', 'harm_amp_loss', 'harm_dist_loss']
    np.testing.assert_allclose(terms['harm_amp_loss'], 0.0)
    np.testing.assert_allclose(terms['harm_dist_loss'], 2.0 * 3 / 6, rtol=1e-6)  # mean over all, masked
    np.testing.assert_allclose(terms['f0_hz_loss'], 3.0 * 12.0 / 2, rtol=1e-5)


@pytest.mark.parametrize('p', [1.0, 2.0])
def test_wasserstein_distance_with_unit_weights_matches_scipy(p):
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=[3, 7]), rng.normal(1.0, 2.0, size=[3, 5])
    uw, vw = rng.uniform(0.1, 1, [3, 7]), rng.uniform(0.1, 1, [3, 5])
    uw, vw = uw / uw.sum(-1, keepdims=True), vw / vw.sum(-1, keepdims=True)
    scipy_fn = scipy.stats.wasserstein_distance if p == 1.0 else scipy.stats.energy_distance
    out = losses.wasserstein_distance(u, v, uw, vw, p=p).numpy()
    if p == 1.0:
        expected = [scipy_fn(u[i], v[i], uw[i], vw[i]) for i in range(3)]
    else:  # scipy's energy distance is sqrt(2) times the L2 CDF distance
        expected = [scipy_fn(u[i], v[i], uw[i], vw[i]) / np.sqrt(2) for i in range(3)]
    np.testing.assert_allclose(out, expected, rtol=1e-4)
    unweighted = losses.wasserstein_distance(u, v, None, None).numpy()
    np.testing.assert_allclose(
        unweighted, [scipy.stats.wasserstein_distance(u[i], v[i]) for i in range(3)], rtol=1e-4
    )


def test_wasserstein_distance_keeps_ddsps_unnormalised_weights():
    # ddsp accumulates the weights without dividing by their total: doubling both doubles the distance.
    u, v, w = np.array([[0.0, 1.0]]), np.array([[2.0, 3.0]]), np.array([[0.5, 0.5]])
    one = losses.wasserstein_distance(u, v, w, w).numpy()
    np.testing.assert_allclose(one, [2.0], rtol=1e-6)
    np.testing.assert_allclose(losses.wasserstein_distance(u, v, 2 * w, 2 * w).numpy(), [4.0], rtol=1e-6)


def test_wasserstein_consistency_loss_in_hz_when_midi_false():
    amps = np.full([1, 1, 2], 0.5, np.float32)
    a, b = np.array([[[100.0, 200.0]]], np.float32), np.array([[[110.0, 210.0]]], np.float32)
    np.testing.assert_allclose(
        losses.WassersteinConsistencyLoss(midi=False)(amps, a, amps, b), 10.0, rtol=1e-5
    )
    midi = losses.WassersteinConsistencyLoss()(amps, a, amps, b)
    expected = 0.5 * (_midi(110.0) - _midi(100.0)) + 0.5 * (_midi(210.0) - _midi(200.0))
    np.testing.assert_allclose(midi, expected, rtol=1e-4)


def test_gaussian_mixture_log_prob_matches_scipy():
    rng = np.random.default_rng(2)
    x, locs, w = rng.normal(size=[4, 6]), rng.normal(size=[4, 3]), rng.uniform(0.1, 1, [4, 3])
    out = consistency.gaussian_mixture_log_prob(x.astype(np.float32), locs.astype(np.float32), 0.7, w).numpy()
    density = (w[:, None, :] / w.sum(-1)[:, None, None]) * scipy.stats.norm.pdf(
        x[:, :, None], locs[:, None, :], 0.7
    )
    np.testing.assert_allclose(out, np.log(density.sum(-1)), rtol=1e-5)


def test_kde_consistency_loss_is_amplitude_weighted_nll_plus_mean_amplitude_term():
    rng = np.random.default_rng(3)
    amps_a, amps_b = rng.uniform(0.1, 1, [1, 2, 3]), rng.uniform(0.1, 1, [1, 2, 4])
    freqs_a, freqs_b = rng.uniform(100, 1000, [1, 2, 3]), rng.uniform(100, 1000, [1, 2, 4])

    def nll(amps, freqs, amps_t, freqs_t, scale):
        log_w = np.log(amps_t / amps_t.sum(-1, keepdims=True))[..., None, :]
        log_pdf = scipy.stats.norm.logpdf(_midi(freqs)[..., :, None], _midi(freqs_t)[..., None, :], scale)
        log_p = scipy.special.logsumexp(log_w + log_pdf, axis=-1)
        return np.mean(-log_p * amps / amps.sum(-1, keepdims=True), axis=-1)

    expected = (
        np.mean(nll(amps_a, freqs_a, amps_b, freqs_b, 0.5))
        + 2.0 * np.mean(nll(amps_b, freqs_b, amps_a, freqs_a, 0.3))
        + 0.1 * np.mean(np.abs(amps_a.mean(-1) - amps_b.mean(-1)))
    )
    loss = losses.KDEConsistencyLoss(weight_b=2.0, weight_mean_amp=0.1, scale_a=0.3, scale_b=0.5)
    f32 = lambda x: x.astype(np.float32)  # noqa: E731
    np.testing.assert_allclose(
        loss(f32(amps_a), f32(freqs_a), f32(amps_b), f32(freqs_b)), expected, rtol=1e-4
    )


def test_twm_predicts_the_f0_whose_harmonics_the_sinusoids_are():
    f0 = 220.0
    freqs = np.array([[[f0 * h for h in range(1, 9)]]], np.float32)
    amps = np.array([[[1.0 / h for h in range(1, 9)]]], np.float32)
    candidates = np.array([[[f0 / 2, f0 * 2 / 3, f0, f0 * 1.5, f0 * 2]]], np.float32)
    np.testing.assert_allclose(losses.TWMLoss().predict_f0(candidates, freqs, amps), [[[f0]]])


def test_consistency_losses_are_registered_with_gin():
    for name in (
        'ParamLoss',
        'FilteredNoiseConsistencyLoss',
        'HarmonicConsistencyLoss',
        'WassersteinConsistencyLoss',
        'KDEConsistencyLoss',
        'TWMLoss',
        'EmbeddingLoss',
        'PretrainedCREPEEmbeddingLoss',
    ):
        assert issubclass(gin.get_configurable(f'losses.{name}'), getattr(losses, name))
