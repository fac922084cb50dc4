"""TFRecordProvider reads prepare_tfrecord's features and names the setting to fix when they do not fit."""

import numpy as np
import pytest
import tensorflow as tf

from clarinet_ddsp.training import data
from tests.training import tiny


def test_feature_lengths_match_ddsp_for_four_seconds():
    # ddsp: 4 s at 250 Hz -> 1000 frames ('same' padding), 1001 with --center.
    assert data.TFRecordProvider('x', centered=False)._feature_length == 1000
    assert data.TFRecordProvider('x', centered=True)._feature_length == 1001
    assert data.TFRecordProvider('x')._audio_length == 64000


def test_tfrecord_provider_reads_back_written_examples(tmp_path):
    pattern = tiny.write_tfrecords(str(tmp_path / 'train.tfrecord'), n_examples=3, n_shards=2)
    provider = data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS)
    examples = list(provider.get_dataset(shuffle=False))
    assert len(examples) == 3
    f0s = sorted(float(e['f0_hz'][0]) for e in examples)
    np.testing.assert_allclose(f0s, [220.0, 242.0, 264.0], rtol=1e-6)
    expected = tiny.make_example(seed=0)
    got = [e for e in examples if abs(float(e['f0_hz'][0]) - 220.0) < 1e-3][0]
    np.testing.assert_array_equal(got['audio'].numpy(), expected['audio'])
    assert got['loudness_db'].shape == (tiny.N_FRAMES,)


def test_get_batch_batches_and_repeats(tmp_path):
    pattern = tiny.write_tfrecords(str(tmp_path / 'train.tfrecord'), n_examples=3, n_shards=1)
    provider = data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS)
    batches = list(provider.get_batch(2, shuffle=True, repeats=2))
    assert len(batches) == 3  # 6 examples, drop_remainder
    assert batches[0]['audio'].shape == (2, tiny.N_SAMPLES)


def test_pattern_matching_nothing_names_the_setting(tmp_path):
    provider = data.TFRecordProvider(str(tmp_path / 'nothing*.tfrecord'))
    with pytest.raises(ValueError, match="TFRecordProvider: file_pattern='.*nothing.*' matches no files"):
        provider.get_dataset()


def test_records_of_another_length_raise_naming_the_settings(tmp_path):
    pattern = tiny.write_tfrecords(str(tmp_path / 'train.tfrecord'), n_examples=2, n_shards=1)
    provider = data.TFRecordProvider(pattern)  # 4 s expected, 0.128 s written.
    with pytest.raises(ValueError, match='example_secs') as info:
        provider.get_dataset()
    assert 'train.tfrecord' in str(info.value)
    assert 'centered' in str(info.value)


def test_centered_records_read_only_with_centered_true(tmp_path):
    pattern = tiny.write_tfrecords(
        str(tmp_path / 'c.tfrecord'), n_examples=1, n_shards=1, n_frames=tiny.N_FRAMES + 1
    )
    with pytest.raises(ValueError, match='centered'):
        data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS).get_dataset()
    example = next(
        iter(data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS, centered=True).get_dataset())
    )
    assert example['f0_hz'].shape == (tiny.N_FRAMES + 1,)


def test_in_memory_provider_batches():
    examples = {k: np.stack([v, v]) for k, v in tiny.make_example().items()}
    batch = next(iter(data.InMemoryProvider(examples).get_batch(2)))
    assert batch['audio'].shape == (2, tiny.N_SAMPLES)
    assert batch['audio'].dtype == tf.float32


def test_legacy_provider_reads_records_without_audio_16k(tmp_path):
    example = tiny.make_example()
    del example['audio_16k']
    path = str(tmp_path / 'old.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:
        features = {k: tf.train.Feature(float_list=tf.train.FloatList(value=v)) for k, v in example.items()}
        writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    got = next(iter(data.LegacyTFRecordProvider(path, example_secs=tiny.EXAMPLE_SECS).get_dataset()))
    assert sorted(got) == ['audio', 'f0_confidence', 'f0_hz', 'loudness_db']
    with pytest.raises(ValueError, match='audio_16k'):
        data.TFRecordProvider(path, example_secs=tiny.EXAMPLE_SECS).get_dataset()


def test_a_later_file_of_another_length_fails_up_front_naming_file_key_and_lengths(tmp_path):
    tiny.write_tfrecords(str(tmp_path / 'a.tfrecord'), n_examples=1, n_shards=1)
    tiny.write_tfrecords(str(tmp_path / 'b.tfrecord'), n_examples=1, n_shards=1, n_frames=tiny.N_FRAMES + 3)
    provider = data.TFRecordProvider(str(tmp_path / '*.tfrecord*'), example_secs=tiny.EXAMPLE_SECS)
    with pytest.raises(ValueError) as info:
        provider.get_dataset(shuffle=False)
    message = str(info.value)
    assert 'b.tfrecord-00000-of-00001' in message and 'a.tfrecord' not in message
    assert f"'f0_hz' of length {tiny.N_FRAMES + 3}, where this configuration" in message
    assert f'needs {tiny.N_FRAMES}' in message
    assert '--example_secs=0.128 --sample_rate=16000 --frame_rate=250' in message
    assert '\n' not in message


def _write_examples(path, examples):
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            feats = {k: tf.train.Feature(float_list=tf.train.FloatList(value=v)) for k, v in example.items()}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())


def test_a_later_record_of_another_length_fails_naming_the_key_and_settings(tmp_path):
    path = str(tmp_path / 'mixed.tfrecord')
    _write_examples(path, [tiny.make_example(), tiny.make_example(n_frames=tiny.N_FRAMES + 3)])
    provider = data.TFRecordProvider(path, example_secs=tiny.EXAMPLE_SECS)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        list(provider.get_dataset(shuffle=False))
    assert 'has f0_hz of length' in info.value.message
    assert f'[{tiny.N_FRAMES + 3}]' in info.value.message
    assert 'TFRecordProvider.example_secs' in info.value.message


def test_another_tools_records_name_the_missing_key_and_prepare_flags(tmp_path):
    path = str(tmp_path / 'other.tfrecord')
    example = tiny.make_example()
    _write_examples(path, [{'audio': example['audio'], 'pitch': example['f0_hz']}])
    with pytest.raises(ValueError) as info:
        data.TFRecordProvider(path, example_secs=tiny.EXAMPLE_SECS).get_dataset()
    message = str(info.value)
    assert "have no 'audio_16k' feature (they have ['audio', 'pitch'])" in message
    assert 'prepare_tfrecord --example_secs=0.128 --sample_rate=16000 --frame_rate=250' in message


def test_records_of_two_seconds_name_the_flags_they_were_prepared_with(tmp_path):
    path = str(tmp_path / 'two.tfrecord')
    _write_examples(path, [tiny.make_example(n_samples=32000, n_frames=500)])
    with pytest.raises(ValueError) as info:
        data.TFRecordProvider(path, example_secs=4).get_dataset()
    message = str(info.value)
    assert "'audio' of length 32000, where this configuration" in message and 'needs 64000' in message
    # 32000 samples at 16 kHz with 500 frames: what --example_secs=2 (250 Hz, 'same') writes.
    assert 'They look prepared with --example_secs=2 --sample_rate=16000 --frame_rate=250.' in message
