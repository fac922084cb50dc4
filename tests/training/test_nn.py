"""nn: Fc stacks compute Dense -> LayerNorm -> leaky ReLU; split_to_dict; the Rnn wrapper."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import nn


def _numpy_fc(x, kernel, bias, gamma, beta, eps=1e-3):
    y = x @ kernel + bias
    mean = y.mean(-1, keepdims=True)
    var = y.var(-1, keepdims=True)
    y = (y - mean) / np.sqrt(var + eps) * gamma + beta
    return np.where(y > 0, y, 0.2 * y)


def test_fc_stack_matches_numpy_dense_layernorm_leaky_relu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    stack = nn.FcStack(ch=4, layers=2)
    got = stack(x).numpy()
    expected = x
    for fc in stack.fcs:
        kernel, bias = [w.numpy() for w in fc.dense.weights]
        gamma, beta = [w.numpy() for w in fc.norm.weights]
        expected = _numpy_fc(expected, kernel, bias, gamma, beta)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # Two Fc layers: (3*4+4 + 2*4) + (4*4+4 + 2*4) parameters.
    assert sum(int(np.prod(w.shape)) for w in stack.trainable_weights) == 24 + 28


def test_split_to_dict_splits_last_axis_in_order():
    x = tf.reshape(tf.range(12.0), [1, 2, 6])
    out = nn.split_to_dict(x, (('a', 1), ('b', 2), ('c', 3)))
    np.testing.assert_array_equal(out['a'].numpy()[0, :, 0], [0, 6])
    np.testing.assert_array_equal(out['c'].numpy()[0, 1], [9, 10, 11])


@pytest.mark.parametrize(
    'rnn_type,n_params', [('gru', 3 * (3 * 4 + 4 * 4 + 2 * 4)), ('lstm', 4 * (3 * 4 + 4 * 4 + 4))]
)
def test_rnn_wrapper_has_keras_parameter_counts(rnn_type, n_params):
    rnn = nn.Rnn(4, rnn_type)
    y = rnn(tf.zeros([2, 7, 3]))
    assert y.shape == (2, 7, 4)
    assert sum(int(np.prod(w.shape)) for w in rnn.trainable_weights) == n_params


def test_rnn_rejects_unknown_type_naming_it():
    with pytest.raises(ValueError, match="rnn_type='rnn'"):
        nn.Rnn(4, 'rnn')


def test_fast_rnn_has_the_same_weights_and_outputs_as_keras():
    x = tf.random.stateless_normal([2, 9, 3], seed=[1, 2])
    slow, fast = nn.Rnn(4, 'gru', fast=False), nn.Rnn(4, 'gru', fast=True)
    slow(x)
    fast(x)
    assert [tuple(w.shape) for w in slow.weights] == [tuple(w.shape) for w in fast.weights]
    for a, b in zip(slow.weights, fast.weights):
        b.assign(a)
    np.testing.assert_allclose(slow(x).numpy(), fast(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('rnn_type', ['gru', 'lstm'])
def test_stateless_rnn_one_frame_at_a_time_equals_the_whole_sequence(rnn_type):
    rnn = nn.StatelessRnn(6, rnn_type)
    x = tf.random.stateless_normal([2, 9, 4], seed=[1, 2])
    state_size = 12 if rnn_type == 'lstm' else 6
    state0 = tf.random.stateless_normal([2, state_size], seed=[3, 4])
    y, state = rnn(x, state0)
    # The one-frame path (the recurrent cell, no loop) carried over 9 frames gives the same outputs.
    s = state0
    steps = []
    for t in range(9):
        y_t, s = rnn(x[:, t : t + 1], s)
        steps.append(y_t)
    np.testing.assert_allclose(tf.concat(steps, axis=1), y, atol=1e-5)
    np.testing.assert_allclose(s, state, atol=1e-5)
    # And the state is the GRU's (LSTM's) own: the last output (h then c).
    np.testing.assert_allclose(state[:, :6], y[:, -1], atol=1e-6)
