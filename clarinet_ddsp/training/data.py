"""Data providers: TFRecords written by clarinet_ddsp_prepare_tfrecord -> batched tf.data pipelines."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from absl import logging

import gin
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE, get_framed_lengths

_AUTOTUNE = tf.data.AUTOTUNE

FEATURE_KEYS = ('f0_hz', 'f0_confidence', 'loudness_db')


def get_n_frames(n_samples_16k: int, frame_rate: int, centered: bool) -> int:
    """Number of feature frames prepare_tfrecord writes for an example (as ddsp's get_framed_lengths).

    Args:
      n_samples_16k: length of the example at 16 kHz.
      frame_rate: feature frames per second.
      centered: 'center' padding (one extra frame) instead of 'same'.

    Returns:
      n_frames: 1000 for 4 s at 250 Hz, 1001 when centered.
    """
    hop_size = CREPE_SAMPLE_RATE / frame_rate
    n_frames, _ = get_framed_lengths(
        n_samples_16k, CREPE_FRAME_SIZE, hop_size, 'center' if centered else 'same'
    )
    return n_frames


class DataProvider:
    """Base class: returns a tf.data.Dataset of feature dictionaries."""

    def __init__(self, sample_rate: int, frame_rate: int):
        self._sample_rate = sample_rate
        self._frame_rate = frame_rate

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def frame_rate(self) -> int:
        return self._frame_rate

    def get_dataset(self, shuffle: bool = True) -> tf.data.Dataset:
        """A dataset of unbatched examples (dict of tensors)."""
        raise NotImplementedError

    def get_batch(
        self, batch_size: int, shuffle: bool = True, repeats: int = -1, drop_remainder: bool = True
    ) -> tf.data.Dataset:
        """Batched dataset.

        Args:
          batch_size: examples per batch.
          shuffle: shuffle files/examples.
          repeats: passes over the data, -1 for endless.
          drop_remainder: drop a last incomplete batch.
        """
        if batch_size < 1:
            raise ValueError(
                f'get_batch: batch_size={batch_size} must be >= 1; set train.batch_size '
                '(or the batch_size macro) to a positive integer.'
            )
        dataset = self.get_dataset(shuffle)
        dataset = dataset.repeat(repeats)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        return dataset.prefetch(buffer_size=_AUTOTUNE)


@gin.register(module='data')
class InMemoryProvider(DataProvider):
    """Examples held in memory (a dict of arrays with a leading example axis); for tests and notebooks."""

    def __init__(self, examples: Mapping[str, np.ndarray], sample_rate: int = 16000, frame_rate: int = 250):
        super().__init__(sample_rate, frame_rate)
        self._examples = {k: np.asarray(v, dtype=np.float32) for k, v in examples.items()}
        sizes = {k: v.shape[0] for k, v in self._examples.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f'InMemoryProvider: examples have different counts per key {sizes}; '
                'give every key the same leading (example) axis.'
            )

    def get_dataset(self, shuffle: bool = True) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices(self._examples)
        if shuffle:
            dataset = dataset.shuffle(len(next(iter(self._examples.values()))))
        return dataset


@gin.register(module='data')
class TFRecordProvider(DataProvider):
    """Reads TFRecords with ddsp's features: audio, audio_16k, f0_hz, f0_confidence, loudness_db."""

    def __init__(
        self,
        file_pattern: str | None = None,
        example_secs: int = 4,
        sample_rate: int = 16000,
        frame_rate: int = 250,
        centered: bool = False,
    ):
        """Constructor.

        Args:
          file_pattern: glob (or comma-free list entry) of TFRecord files, e.g. '/data/train.tfrecord*'.
          example_secs: seconds per example (prepare_tfrecord's --example_secs).
          sample_rate: audio sample rate in Hz.
          frame_rate: feature frames per second.
          centered: examples were prepared with --center (one extra frame).

        Raises:
          ValueError: no file_pattern given.
        """
        super().__init__(sample_rate, frame_rate)
        if not file_pattern:
            raise ValueError(
                'TFRecordProvider.file_pattern is not set; pass '
                '--gin_param="TFRecordProvider.file_pattern=\'/path/to/train.tfrecord*\'".'
            )
        self._file_pattern = file_pattern
        self._example_secs = example_secs
        self._centered = centered
        self._audio_length = int(example_secs * sample_rate)
        self._audio_16k_length = int(example_secs * CREPE_SAMPLE_RATE)
        self._feature_length = get_n_frames(self._audio_16k_length, frame_rate, centered)

    @property
    def file_pattern(self) -> str:
        return self._file_pattern

    @property
    def features_dict(self) -> dict[str, tf.io.FixedLenFeature]:
        """Feature spec of one example."""
        spec = {
            'audio': tf.io.FixedLenFeature([self._audio_length], dtype=tf.float32),
            'audio_16k': tf.io.FixedLenFeature([self._audio_16k_length], dtype=tf.float32),
        }
        for key in FEATURE_KEYS:
            spec[key] = tf.io.FixedLenFeature([self._feature_length], dtype=tf.float32)
        return spec

    def _expected_lengths(self) -> dict[str, int]:
        return {k: int(v.shape[0]) for k, v in self.features_dict.items()}

    def _list_files(self) -> list[str]:
        patterns = [p for p in str(self._file_pattern).split(',') if p]
        files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
        if not files:
            raise ValueError(
                f'TFRecordProvider.file_pattern={self._file_pattern!r} matches no files; point it at the '
                'TFRecords written by clarinet_ddsp_prepare_tfrecord, e.g. '
                '--gin_param="TFRecordProvider.file_pattern=\'/path/to/train.tfrecord*\'".'
            )
        return files

    def _fix_hint(self) -> str:
        return (
            f'expected {self._expected_lengths()} for example_secs={self._example_secs}, '
            f'sample_rate={self.sample_rate}, frame_rate={self.frame_rate}, centered={self._centered}. '
            'Set TFRecordProvider.example_secs/sample_rate/frame_rate/centered to the values given to '
            'clarinet_ddsp_prepare_tfrecord (e.g. centered=True for records prepared with --center), '
            "and the synths' n_samples and F0LoudnessPreprocessor.time_steps to match."
        )

    def _length_error(self, path: str, lengths: dict[str, int | None]) -> ValueError:
        return ValueError(
            f'TFRecordProvider: records in {path} do not fit the configuration: found '
            f'lengths {lengths}, {self._fix_hint()}'
        )

    def check_first_record(self, files: list[str]) -> None:
        """Reads one record eagerly and raises ValueError if its lengths do not fit.

        Raises:
          ValueError: missing key or wrong length, naming the file and the settings to change.
        """
        for record in tf.data.TFRecordDataset(files[:1]).take(1):
            example = tf.train.Example.FromString(record.numpy())
            feats = example.features.feature
            lengths = {
                k: len(feats[k].float_list.value) if k in feats else None for k in self._expected_lengths()
            }
            if lengths != self._expected_lengths():
                raise self._length_error(files[0], lengths)

    def get_dataset(self, shuffle: bool = True) -> tf.data.Dataset:
        """Dataset of parsed examples.

        Raises:
          ValueError: file_pattern matches nothing, or the records' lengths do not fit.
        """
        files = self._list_files()
        self.check_first_record(files)
        logging.info('TFRecordProvider: %d file(s) match %s', len(files), self._file_pattern)
        spec = self.features_dict
        var_spec = {k: tf.io.VarLenFeature(tf.float32) for k in spec}
        expected = self._expected_lengths()
        message = (
            f'TFRecordProvider: a record matching {self._file_pattern} has another length; '
            + self._fix_hint()
        )

        def parse(record):
            parsed = tf.io.parse_single_example(record, var_spec)
            out = {}
            for key, length in expected.items():
                values = parsed[key].values
                tf.debugging.assert_equal(tf.size(values), length, message=message)
                out[key] = tf.reshape(values, [length])
            return out

        filenames = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            filenames = filenames.shuffle(len(files))
        dataset = filenames.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(40, len(files)),
            num_parallel_calls=_AUTOTUNE,
            deterministic=not shuffle,
        )
        return dataset.map(parse, num_parallel_calls=_AUTOTUNE)


@gin.register(module='data')
class LegacyTFRecordProvider(TFRecordProvider):
    """TFRecords from older ddsp versions, without 'audio_16k' (as ddsp's LegacyTFRecordProvider)."""

    @property
    def features_dict(self) -> dict[str, tf.io.FixedLenFeature]:
        spec = super().features_dict
        del spec['audio_16k']
        return spec
