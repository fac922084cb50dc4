"""Data providers: TFRecords written by clarinet_ddsp_prepare_tfrecord -> batched tf.data pipelines."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

import gin
import numpy as np
import tensorflow as tf
from absl import logging

from clarinet_ddsp.errors import ArgumentError
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE, get_framed_lengths
from clarinet_ddsp.training import tfrecord_scan

_AUTOTUNE = tf.data.AUTOTUNE

FEATURE_KEYS = ('f0_hz', 'f0_confidence', 'loudness_db')


class CorruptRecordError(ValueError):
    """A TFRecord file cannot be read past some byte offset (truncated or damaged)."""


class RecordLengthError(ValueError):
    """A record read mid-run has a feature of another length than the provider's settings give."""


# Starts the message of TFRecordProvider's in-graph length check (get_dataset).
_LENGTH_CHECK = 'TFRecordProvider: a record matching'


def _assertion_text(line: str) -> str:
    """The text of a tf.debugging.Assert failure line: '... assertion failed: [a] [3] [b]' -> 'a 3 b'."""
    text = line.split('assertion failed:', 1)[-1].strip()
    if text.startswith('[') and text.endswith(']'):
        text = ' '.join(text[1:-1].split('] ['))
    return text.replace("\\'", "'").strip()


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


_SHARD_RE = re.compile(r'^(.*)-(\d{5})-of-(\d{5})$')


def _warn_incomplete_shard_sets(files: list[str]) -> None:
    """Warns about <prefix>-NNNNN-of-MMMMM sets missing shards (a preparation killed while publishing)."""
    sets: dict[str, dict[int, set[int]]] = {}
    for path in files:
        match = _SHARD_RE.match(path)
        if match:
            prefix, index, total = match.group(1), int(match.group(2)), int(match.group(3))
            sets.setdefault(prefix, {}).setdefault(total, set()).add(index)
    for prefix, totals in sets.items():
        for total, present in totals.items():
            missing = sorted(set(range(total)) - present)
            if missing or len(totals) > 1:
                logging.warning(
                    'TFRecordProvider: %d of the %d shards %s-NNNNN-of-%05d match (missing: %s%s); a '
                    'preparation was interrupted, or the pattern selects part of the set. Rerun '
                    'clarinet_ddsp_prepare_tfrecord with the same flags to complete it.',
                    len(present),
                    total,
                    prefix,
                    total,
                    ', '.join(f'{i:05d}' for i in missing[:5]) + (' ...' if len(missing) > 5 else ''),
                    f'; shards of {len(totals)} different sets' if len(totals) > 1 else '',
                )


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

    def record_error(self, error: tf.errors.OpError) -> ValueError | None:
        """The error a failed read of this provider's dataset stands for, or None if it is not its own."""
        return None

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
        skip_corrupt: bool = False,
    ):
        """Constructor.

        Args:
            file_pattern: glob (or comma-free list entry) of TFRecord files, e.g. '/data/train.tfrecord*'.
            example_secs: seconds per example (prepare_tfrecord's --example_secs).
            sample_rate: audio sample rate in Hz.
            frame_rate: feature frames per second.
            centered: examples were prepared with --center (one extra frame).
            skip_corrupt: read past unreadable records (a shard cut short by an interrupted copy, damaged
                bytes) and log how many were skipped, instead of stopping with the file and byte offset.
                Every record's checksum is checked once up front (the data is read once more).

        Raises:
            ValueError: no file_pattern given.
        """
        super().__init__(sample_rate, frame_rate)
        if not file_pattern:
            raise ArgumentError(
                'TFRecordProvider',
                'file_pattern',
                file_pattern,
                "is not set; give the TFRecords' glob, e.g. '/path/to/train.tfrecord*' "
                "(in gin: TFRecordProvider.file_pattern = '/path/to/train.tfrecord*').",
            )
        self._file_pattern = file_pattern
        self._example_secs = example_secs
        self._centered = centered
        self._skip_corrupt = bool(skip_corrupt)
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
            raise ArgumentError(
                'TFRecordProvider',
                'file_pattern',
                self._file_pattern,
                'matches no files; point it at the TFRecords written by clarinet_ddsp_prepare_tfrecord, '
                "e.g. '/path/to/train.tfrecord*'.",
            )
        _warn_incomplete_shard_sets(files)
        return files

    def _settings(self) -> str:
        return (
            f'example_secs={self._example_secs:g}, sample_rate={self.sample_rate}, '
            f'frame_rate={self.frame_rate}, centered={self._centered}'
        )

    def _prepare_flags(self) -> str:
        return (
            f'clarinet_ddsp_prepare_tfrecord --example_secs={self._example_secs:g} '
            f'--sample_rate={self.sample_rate} --frame_rate={self.frame_rate}'
            + (' --center' if self._centered else '')
        )

    def _fix_hint(self) -> str:
        return (
            f'prepare matching data with {self._prepare_flags()}, or set TFRecordProvider.example_secs/'
            "sample_rate/frame_rate/centered to the values the data was prepared with (and the synths' "
            'n_samples and F0LoudnessPreprocessor.time_steps to match)'
        )

    def _guess_settings(self, lengths: Mapping[str, int | None]) -> str:
        """The prepare flags that give these lengths, e.g. '--example_secs=2 --frame_rate=250', or ''."""
        n_16k, n_audio, n_frames = (lengths.get(k) for k in ('audio_16k', 'audio', 'f0_hz'))
        if not n_16k or not n_audio or not n_frames:
            return ''
        secs = n_16k / CREPE_SAMPLE_RATE
        for frame_rate in (250, 200, 125, 100, 50, 500, 1000, 400, 320, 160, 80, 64, 40, 32, 25, 20, 10):
            for centered in (False, True):
                if get_n_frames(n_16k, frame_rate, centered) == n_frames:
                    return (
                        f'--example_secs={secs:g} --sample_rate={round(n_audio / secs)} '
                        f'--frame_rate={frame_rate}' + (' --center' if centered else '')
                    )
        return ''

    def mismatch_message(self, path: str, lengths: Mapping[str, int | None]) -> str | None:
        """One line naming the first key that is missing or of another length, or None if all fit."""
        expected = self._expected_lengths()
        for key, length in expected.items():
            found = lengths.get(key)
            if found == length:
                continue
            if found is None:
                legacy = ''
                if key == 'audio_16k':
                    legacy = (
                        ', or read records without audio_16k (ddsp before v1.0) with LegacyTFRecordProvider'
                    )
                return (
                    f"TFRecordProvider: records in {path} have no '{key}' feature (they have "
                    f'{sorted(lengths)}); they were written by another tool: prepare the audio with '
                    f'{self._prepare_flags()}{legacy}.'
                )
            guess = self._guess_settings(lengths)
            made = f' They look prepared with {guess}.' if guess else ''
            return (
                f"TFRecordProvider: records in {path} have '{key}' of length {found}, where this "
                f'configuration ({self._settings()}) needs {length}.{made} To fix: {self._fix_hint()}.'
            )
        return None

    def check_first_record(self, files: list[str]) -> None:
        """Reads each file's first record eagerly and raises ValueError if a key or length does not fit.

        Raises:
            ValueError: a missing key or another length, naming the file, the key, both lengths and the fix.
        """
        for path in files:
            try:
                records = [r.numpy() for r in tf.data.TFRecordDataset(path).take(1)]
            except tf.errors.DataLossError:
                continue  # An unreadable record: the corruption check reports (or skips) it.
            if not records:
                continue
            feats = tf.train.Example.FromString(records[0]).features.feature
            lengths = {k: len(feats[k].float_list.value) for k in feats}
            message = self.mismatch_message(path, lengths)
            if message:
                raise ValueError(message)

    def _scan(self, files: list[str], check_data: bool) -> list[tfrecord_scan.FileScan]:
        start = time.time()
        scans = [tfrecord_scan.scan_file(f, check_data=check_data) for f in files]
        logging.info(
            'TFRecordProvider: checked %d file(s) (%d records, %s) in %.1f s.',
            len(scans),
            sum(len(s.records) for s in scans),
            'checksums of all data' if check_data else 'record framing',
            time.time() - start,
        )
        return scans

    def _corrupt_error(self, bad: list[tfrecord_scan.BadRecord]) -> CorruptRecordError:
        more = (
            f' (and {len(bad) - 1} more unreadable part(s): {", ".join(map(str, bad[1:4]))})'
            if bad[1:]
            else ''
        )
        return CorruptRecordError(
            f'TFRecordProvider: cannot read {bad[0]}{more}. The file is damaged (a copy cut short, '
            'a disk error): copy it again or rerun clarinet_ddsp_prepare_tfrecord, or train on the '
            "readable records with --gin_param='TFRecordProvider.skip_corrupt=True'."
        )

    def record_error(self, error: tf.errors.OpError) -> ValueError | None:
        """A CorruptRecordError for an unreadable record, a RecordLengthError for get_dataset's length
        check failing on a record, else None.

        The length check runs inside the tf.data graph, which only an op error leaves; the values it
        reports (the key and both lengths) are in that error's text, which starts with _LENGTH_CHECK.
        """
        if isinstance(error, tf.errors.DataLossError):
            return self.corruption_error(error)
        if isinstance(error, tf.errors.InvalidArgumentError):
            for line in error.message.splitlines():
                if _LENGTH_CHECK in line:
                    return RecordLengthError(_assertion_text(line))
        return None

    def corruption_error(self, error: tf.errors.DataLossError) -> CorruptRecordError:
        """The error for a DataLossError met while reading: finds the file and offset of the bad record."""
        for path in self._list_files():
            scan = tfrecord_scan.scan_file(path, check_data=True)
            if scan.bad:
                return self._corrupt_error(scan.bad)
        return CorruptRecordError(
            f'TFRecordProvider: a record matching {self._file_pattern} cannot be read ({error.message}); '
            "copy the files again or rerun clarinet_ddsp_prepare_tfrecord, or pass --gin_param='"
            "TFRecordProvider.skip_corrupt=True'."
        )

    def _interleave(self, files: list[str], shuffle: bool) -> tf.data.Dataset:
        filenames = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            filenames = filenames.shuffle(len(files))
        return filenames.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(40, len(files)),
            num_parallel_calls=_AUTOTUNE,
            deterministic=not shuffle,
        )

    def _readable_records(self, scans: list[tfrecord_scan.FileScan], shuffle: bool) -> tf.data.Dataset:
        """Records of clean files as usual; the readable records of damaged files one by one by offset."""
        bad = [b for s in scans for b in s.bad]
        clean = [s.path for s in scans if not s.bad]
        spans = [(s.path, n, off, s.size - off - n) for s in scans if s.bad for off, n in s.records if n]
        if bad:
            logging.warning(
                'TFRecordProvider.skip_corrupt: skipping %d unreadable part(s) (%d bytes) in %d of %d '
                'file(s); %d readable record(s) kept:\n%s',
                len(bad),
                sum(b.n_bytes for b in bad),
                len({b.path for b in bad}),
                len(scans),
                sum(len(s.records) for s in scans),
                '\n'.join(f'  {b}' for b in bad),
            )
        parts, weights = [], []
        if clean:
            parts.append(self._interleave(clean, shuffle))
            weights.append(float(sum(len(s.records) for s in scans if not s.bad)))
        if spans:
            paths, lengths, headers, footers = (list(column) for column in zip(*spans))
            salvaged = tf.data.Dataset.from_tensor_slices(
                (paths, np.array(lengths, np.int64), np.array(headers, np.int64), np.array(footers, np.int64))
            )
            if shuffle:
                salvaged = salvaged.shuffle(len(spans))
            # A record's data is the one fixed-length record between its header and the file's rest.
            parts.append(
                salvaged.flat_map(
                    lambda p, n, h, f: tf.data.FixedLengthRecordDataset(p, n, header_bytes=h, footer_bytes=f)
                )
            )
            weights.append(float(len(spans)))
        if not parts:
            raise CorruptRecordError(
                f'TFRecordProvider: no readable record in the {len(scans)} file(s) matching '
                f'{self._file_pattern}; rerun clarinet_ddsp_prepare_tfrecord.'
            )
        if len(parts) == 1:
            return parts[0]
        if not shuffle:
            return parts[0].concatenate(parts[1])
        return tf.data.Dataset.sample_from_datasets(parts, weights=[w / sum(weights) for w in weights])

    def get_dataset(self, shuffle: bool = True) -> tf.data.Dataset:
        """Dataset of parsed examples.

        Local files' record framing is checked up front (a few bytes per record), with skip_corrupt
        every record's checksum.

        Raises:
            ValueError: file_pattern matches nothing, or the records' keys or lengths do not fit.
            CorruptRecordError: a truncated or damaged file (without skip_corrupt), naming it and the offset.
        """
        files = self._list_files()
        if self._skip_corrupt:
            scans = self._scan(files, check_data=True)
        else:
            scans = self._scan([f for f in files if '://' not in f], check_data=False)
            bad = [b for scan in scans for b in scan.bad]
            if bad:
                raise self._corrupt_error(bad)
        self.check_first_record(files)
        logging.info('TFRecordProvider: %d file(s) match %s', len(files), self._file_pattern)
        expected = self._expected_lengths()
        messages = {
            key: (
                f'{_LENGTH_CHECK} {self._file_pattern} has {key} of length',
                f'where this configuration ({self._settings()}) needs {length}. To fix: {self._fix_hint()}.',
            )
            for key, length in expected.items()
        }

        def parse(record):
            parsed = tf.io.parse_single_example(
                record, {k: tf.io.VarLenFeature(tf.float32) for k in expected}
            )
            out = {}
            for key, length in expected.items():
                values = parsed[key].values
                before, after = messages[key]
                check = tf.debugging.Assert(
                    tf.equal(tf.size(values), length), [before, tf.size(values), after]
                )
                with tf.control_dependencies([check]):
                    out[key] = tf.reshape(values, [length])
            return out

        dataset = (
            self._readable_records(scans, shuffle) if self._skip_corrupt else self._interleave(files, shuffle)
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
