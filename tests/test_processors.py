"""Processor, ProcessorGroup (DAG routing, output keys) and Add, eager, traced and from gin."""

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

import clarinet_ddsp as ddsp
from clarinet_ddsp import processors


class _Scale(processors.Processor):
    """Test processor: controls = 2 * x, signal = controls + 1."""

    def __init__(self, name='scale'):
        super().__init__(name=name)

    def get_controls(self, x):
        return {'x': 2.0 * x}

    def get_signal(self, x):
        return x + 1.0


def test_processor_is_a_keras_layer_running_controls_then_signal():
    p = _Scale()
    assert isinstance(p, keras.layers.Layer)
    x = np.arange(4.0, dtype=np.float32)
    np.testing.assert_allclose(p(x).numpy(), 2 * x + 1)
    out = p(x, return_outputs_dict=True)
    np.testing.assert_allclose(out['controls']['x'].numpy(), 2 * x)
    np.testing.assert_allclose(out['signal'].numpy(), 2 * x + 1)


def test_add_sums_two_signals():
    a, b = np.ones([2, 5], np.float32), np.full([2, 5], 2.0, np.float32)
    np.testing.assert_allclose(processors.Add()(a, b).numpy(), 3.0)


def test_add_rejects_signals_of_different_lengths():
    with pytest.raises(ValueError, match=r'signal_one 64000, signal_two 63936'):
        processors.Add()(np.zeros([1, 64000], np.float32), np.zeros([1, 63936], np.float32))


def _group():
    return processors.ProcessorGroup(
        dag=[
            (_Scale('one'), ['a']),
            (_Scale('two'), ['inputs/b']),
            (processors.Add(), ['one/signal', 'two/signal']),
        ]
    )


def test_processor_group_outputs_are_keyed_by_name_signal_and_out():
    a, b = np.ones([1, 3], np.float32), np.full([1, 3], 3.0, np.float32)
    outputs = _group().get_controls({'a': a, 'b': b})
    assert {'inputs', 'a', 'b', 'one', 'two', 'add', 'out'} <= set(outputs)
    np.testing.assert_allclose(ddsp.core.nested_lookup('one/signal', outputs).numpy(), 3.0)
    np.testing.assert_allclose(outputs['two']['controls']['x'].numpy(), 6.0)
    np.testing.assert_allclose(outputs['out']['signal'].numpy(), 3.0 + 7.0)
    assert outputs['out'] is outputs['add']


def test_processor_group_call_returns_last_signal_eager_and_traced():
    group = _group()
    inputs = {'a': tf.ones([1, 3]), 'b': tf.ones([1, 3])}
    np.testing.assert_allclose(group(inputs).numpy(), 6.0)
    traced = tf.function(lambda d: group(d, return_outputs_dict=True))(inputs)
    np.testing.assert_allclose(traced['signal'].numpy(), 6.0)
    assert 'one' in traced['controls']


def test_processor_group_tracks_processors_by_name():
    group = _group()
    assert [p.name for p in group.processors] == ['one', 'two', 'add']
    assert group.one.name == 'one'


def test_processor_group_reports_missing_keys():
    group = processors.ProcessorGroup(dag=[(_Scale('one'), ['missing'])])
    with pytest.raises(KeyError, match="'missing'"):
        group.get_controls({'a': tf.ones([1])})


def test_processor_group_rejects_unknown_module_name():
    with pytest.raises(ValueError, match=r"names module 'reverb'"):
        processors.ProcessorGroup(dag=[('reverb', ['a'])])


def test_processor_group_from_gin_with_ddsp_selectors():
    gin.clear_config()
    gin.parse_config("""
        ProcessorGroup.dag = [
            (@synths.Additive(), ['amps', 'harmonic_distribution', 'f0_hz']),
            (@synths.FilteredNoise(), ['noise_magnitudes']),
            (@processors.Add(), ['filtered_noise/signal', 'additive/signal']),
        ]
        synths.Additive.n_samples = 640
        synths.Additive.scale_fn = @core.exp_sigmoid
        synths.FilteredNoise.n_samples = 640
        synths.FilteredNoise.window_size = 0
    """)
    try:
        group = gin.get_configurable('processors.ProcessorGroup')()
        outputs = group.get_controls(
            {
                'amps': np.zeros([1, 10, 1], np.float32),
                'harmonic_distribution': np.zeros([1, 10, 5], np.float32),
                'f0_hz': np.full([1, 10, 1], 200.0, np.float32),
                'noise_magnitudes': np.zeros([1, 10, 17], np.float32),
            }
        )
    finally:
        gin.clear_config()
    assert outputs['additive/signal'.split('/')[0]]['signal'].shape == (1, 640)
    assert outputs['out']['signal'].shape == (1, 640)


def test_mix_follows_ddsp_formula():
    # ddsp's Mix: sqrt(m) * one + (1 - sqrt(|m - 1|)) * two, m = sigmoid(level) resampled.
    one, two = np.ones([1, 100, 1], np.float32), np.full([1, 100, 1], 2.0, np.float32)
    level = np.zeros([1, 5, 1], np.float32)  # m = 0.5
    got = processors.Mix()(one, two, level).numpy()
    np.testing.assert_allclose(got, np.sqrt(0.5) + (1 - np.sqrt(0.5)) * 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match='signal_one has 100 samples and signal_two 99'):
        processors.Mix()(one, two[:, :99], level)


@pytest.mark.parametrize(
    'location,kept', [('front', slice(8, None)), ('center', slice(4, -4)), ('back', slice(None, -8))]
)
def test_crop_removes_padding_at_the_chosen_end(location, kept):
    audio = np.arange(40.0, dtype=np.float32)[None]
    np.testing.assert_array_equal(processors.Crop(8, location)(audio).numpy(), audio[:, kept])


def test_crop_rejects_unknown_location():
    with pytest.raises(ValueError, match=r"crop_location='middle'"):
        processors.Crop(8, 'middle')


def test_processor_subclass_with_build_gets_its_weights_on_first_call():
    class Gain(processors.Processor):
        def __init__(self):
            super().__init__(name='gain', trainable=True)

        def build(self, unused_input_shape):
            self.gain = self.add_weight(name='gain', shape=(1,), initializer='ones')

        def get_controls(self, audio):
            return {'audio': audio}

        def get_signal(self, audio):
            return audio * self.gain

    layer = Gain()
    out = layer(np.full([1, 4], 3.0, np.float32), return_outputs_dict=True)
    np.testing.assert_allclose(out['signal'].numpy(), 3.0)
    assert [w.name for w in layer.trainable_weights] == ['gain']
