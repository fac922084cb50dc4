"""Strategies: the default one on one device, Mirrored over >1 GPU, memory growth on every GPU."""

from unittest import mock

import pytest
import tensorflow as tf

from clarinet_ddsp.training import distribution


def _fake_gpus(n):
    return [tf.config.PhysicalDevice(name=f'/physical_device:GPU:{i}', device_type='GPU') for i in range(n)]


def test_allow_memory_growth_sets_every_gpu():
    gpus = _fake_gpus(3)
    with (
        mock.patch.object(tf.config, 'list_physical_devices', return_value=gpus) as listing,
        mock.patch.object(tf.config.experimental, 'set_memory_growth') as set_growth,
    ):
        names = distribution.allow_memory_growth()
    listing.assert_called_with('GPU')
    assert set_growth.call_args_list == [mock.call(g, True) for g in gpus]
    assert names == [g.name for g in gpus]


def test_allow_memory_growth_after_gpu_init_explains_the_fix():
    with (
        mock.patch.object(tf.config, 'list_physical_devices', return_value=_fake_gpus(1)),
        mock.patch.object(
            tf.config.experimental,
            'set_memory_growth',
            side_effect=RuntimeError('Physical devices cannot be modified'),
        ),
    ):
        with pytest.raises(RuntimeError, match='before any TensorFlow work'):
            distribution.allow_memory_growth()


def test_allow_memory_growth_without_gpus_is_a_no_op():
    with (
        mock.patch.object(tf.config, 'list_physical_devices', return_value=[]),
        mock.patch.object(tf.config.experimental, 'set_memory_growth') as set_growth,
    ):
        assert distribution.allow_memory_growth() == []
    set_growth.assert_not_called()


@pytest.mark.parametrize('n_gpus', [0, 1])
def test_one_device_uses_the_default_strategy(n_gpus):
    with mock.patch.object(tf.config, 'list_physical_devices', return_value=_fake_gpus(n_gpus)):
        strategy = distribution.get_strategy()
    assert distribution.is_default_strategy(strategy)
    assert strategy.num_replicas_in_sync == 1


def test_several_gpus_use_mirrored_strategy():
    with (
        mock.patch.object(tf.config, 'list_physical_devices', return_value=_fake_gpus(2)),
        mock.patch.object(tf.distribute, 'MirroredStrategy', return_value='mirrored') as mirrored,
    ):
        assert distribution.get_strategy() == 'mirrored'
    mirrored.assert_called_once_with()


def test_bad_cluster_config_names_the_argument():
    with pytest.raises(ValueError, match="cluster_config='{not json' is not JSON"):
        distribution.get_strategy(cluster_config='{not json')
    with pytest.raises(ValueError, match='"task"'):
        distribution.get_strategy(cluster_config='{"cluster": {"worker": ["a:1"]}}')
