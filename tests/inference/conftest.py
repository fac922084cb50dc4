"""An untrained run of the shrunk solo-instrument model and random controls, for the inference tests."""

import inference_runs
import numpy as np
import pytest


@pytest.fixture(scope='module')
def untrained_run(tmp_path_factory):
    return inference_runs.make_untrained_run(str(tmp_path_factory.mktemp('run')))


@pytest.fixture
def random_controls():
    """(n_frames, batch=2, seed=0) -> f0_hz, loudness_db [batch, n_frames]: a held pitch with jitter."""

    def make(n_frames, batch=2, seed=0):
        rng = np.random.RandomState(seed)
        f0 = (180.0 + 200.0 * rng.rand(batch, 1) + 5.0 * rng.randn(batch, n_frames)).astype(np.float32)
        ld = (-70.0 + 60.0 * rng.rand(batch, n_frames)).astype(np.float32)
        return f0, ld

    return make
