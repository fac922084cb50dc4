"""Decoding against straightforward transcriptions of crepe 0.0.16 (crepe.core) and hmmlearn's Viterbi."""

import numpy as np
import pytest

from clarinet_ddsp import pitch
from clarinet_ddsp.pitch import decoding

_MAPPING = np.linspace(0, 7180, 360) + 1997.3794084376191


def _crepe_local_average(salience, center=None):
    """crepe.core.to_local_average_cents for one frame, loop for loop."""
    if center is None:
        center = int(np.argmax(salience))
    start = max(0, center - 4)
    end = min(len(salience), center + 5)
    salience = salience[start:end]
    return np.sum(salience * _MAPPING[start:end]) / np.sum(salience)


def _hmmlearn_viterbi(salience):
    """hmmlearn 0.3 CategoricalHMM.predict with crepe's parameters: dense 360 x 360, pair-wise maxima."""
    starting = np.ones(360) / 360
    xx, yy = np.meshgrid(range(360), range(360))
    transition = np.maximum(12 - abs(xx - yy), 0)
    transition = transition / np.sum(transition, axis=1)[:, None]
    emission = np.eye(360) * 0.1 + np.ones((360, 360)) * (0.9 / 360)
    obs = np.argmax(salience, axis=1)
    with np.errstate(divide='ignore'):
        log_start, log_trans, log_frame = np.log(starting), np.log(transition), np.log(emission[:, obs].T)
    n = len(obs)
    lattice = np.empty((n, 360))
    lattice[0] = log_start + log_frame[0]
    for t in range(1, n):
        lattice[t] = np.max(lattice[t - 1][:, None] + log_trans, axis=0) + log_frame[t]
    path = np.empty(n, int)
    path[-1] = np.argmax(lattice[-1])
    for t in range(n - 2, -1, -1):
        best = (-np.inf, 0)
        for i in range(360):  # std::max on (value, index) pairs: later index wins ties
            best = max(best, (lattice[t, i] + log_trans[i, path[t + 1]], i))
        path[t] = best[1]
    return path


def _random_salience(n_frames, seed):
    """Sigmoid-like salience: a wandering peak plus noise, with some frames at the range's ends."""
    rng = np.random.default_rng(seed)
    centre = np.clip(np.cumsum(rng.normal(0, 4, n_frames)) + 180, 0, 359)
    centre[:3] = [0, 2, 359]
    bins = np.arange(360)
    sal = np.exp(-0.5 * ((bins[None] - centre[:, None]) / 1.5) ** 2) * rng.uniform(0.3, 1, (n_frames, 1))
    sal += rng.uniform(0, 0.2, sal.shape)
    jumps = rng.random(n_frames) < 0.1  # octave errors
    sal[jumps, (centre[jumps].astype(int) + 60) % 360] = 1.0
    return sal.astype(np.float32)


@pytest.mark.parametrize('seed', [0, 1])
def test_local_average_matches_crepe_bit_for_bit(seed):
    sal = _random_salience(200, seed)
    expected = np.array([_crepe_local_average(s) for s in sal])
    np.testing.assert_array_equal(pitch.to_local_average_cents(sal), expected)


def test_local_average_of_a_single_bin_is_its_centre():
    sal = np.zeros(360, np.float32)
    sal[100] = 0.7
    assert pitch.to_local_average_cents(sal) == _MAPPING[100]
    sal[101] = 0.7  # two equal neighbours: halfway, 10 cents up
    assert abs(pitch.to_local_average_cents(sal) - (_MAPPING[100] + 10)) < 1e-9


def test_no_salience_gives_nan_cents_and_zero_hz():
    cents = pitch.to_local_average_cents(np.zeros([2, 360], np.float32))
    assert np.all(np.isnan(cents))
    np.testing.assert_array_equal(pitch.cents_to_hz(cents), 0.0)


def test_cents_to_hz_matches_crepe_formula():
    np.testing.assert_allclose(pitch.cents_to_hz(np.array([1200 * np.log2(44.0)])), [440.0], rtol=1e-12)


@pytest.mark.parametrize('seed', [0, 3])
def test_viterbi_path_matches_hmmlearn(seed):
    sal = _random_salience(120, seed)
    np.testing.assert_array_equal(pitch.viterbi_path(sal), _hmmlearn_viterbi(sal))


def test_viterbi_ties_break_like_hmmlearn():
    # All-zero salience (every observation bin 0, flat evidence elsewhere): many tied paths.
    sal = np.zeros([6, 360], np.float32)
    np.testing.assert_array_equal(pitch.viterbi_path(sal), _hmmlearn_viterbi(sal))


def test_viterbi_cents_average_around_the_path():
    sal = _random_salience(80, 5)
    path = _hmmlearn_viterbi(sal)
    expected = np.array([_crepe_local_average(s, c) for s, c in zip(sal, path)])
    np.testing.assert_array_equal(pitch.to_viterbi_cents(sal), expected)


def test_uninformative_frames_follow_the_neighbours():
    sal = np.zeros([7, 360], np.float32)
    sal[:, 200] = 0.9
    sal[3] = 0.0
    sal[3, 20] = 0.5  # a spurious peak, marked as carrying no evidence
    path = decoding.viterbi_path(sal, uninformative=np.array([0, 0, 0, 1, 0, 0, 0], bool))
    assert abs(path[3] - 200) <= 11
