"""The Apache Beam pipeline: audio files -> chunks -> CREPE f0 + loudness -> windows -> sharded TFRecords.

Shards are written into a temporary directory next to the output and moved into place only after the
pipeline succeeded, so a failed or killed run leaves no half-written shards where the output glob finds
them. One run per output prefix (a lock file); the next run removes a killed run's scratch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import re
import shutil
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
from absl import logging
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from clarinet_ddsp import disk_space, interrupts, locks
from clarinet_ddsp.data_prep import audio_io
from clarinet_ddsp.data_prep import examples as ex_lib
from clarinet_ddsp.errors import ArgumentError
from clarinet_ddsp.pitch import CAPACITIES as CREPE_CAPACITIES
from clarinet_ddsp.pitch import weights_path as crepe_weights_path
from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE

COUNTERS = 'prepare-tfrecord'
_MANIFEST = '.parts.json'  # The DirectRunner's list of finished part files, per split prefix.
_RAW = CompressionTypes.UNCOMPRESSED
_TMP_INFIX = '.tmp-'  # Scratch folder <out_dir>/.<basename>.tmp-<hex>, outside the shards' glob.


def _counter(name: str):
    return beam.metrics.Metrics.counter(COUNTERS, name)


def load_chunks(
    path: str, sample_rate: int, chunk_secs: float, example_secs: float, hop_secs: float
) -> Iterator[dict[str, np.ndarray]]:
    """Beam FlatMap: streams one file into chunk examples {'audio', 'audio_16k', 'key'}."""
    logging.info("Loading '%s'.", path)
    _counter('files-loaded').inc()
    if int(sample_rate) == CREPE_SAMPLE_RATE:
        blocks = ((b[0], b[0]) for b in audio_io.iter_audio_blocks(path, [sample_rate]))
    else:
        blocks = audio_io.iter_audio_blocks(path, [sample_rate, CREPE_SAMPLE_RATE])
    for index, (audio, audio_16k) in enumerate(
        ex_lib.chunk_blocks(blocks, sample_rate, chunk_secs, example_secs, hop_secs)
    ):
        _counter('chunks').inc()
        yield {'audio': audio, 'audio_16k': audio_16k, 'key': ex_lib.chunk_key(path, index)}


@dataclasses.dataclass(frozen=True)
class ChunkSpec:
    """Where one chunk of a file lies (small: what the pipeline shuffles and ships to workers)."""

    path: str
    index: int | None  # None: the whole file, streamed chunk by chunk (formats without exact seeking)
    spans: tuple | None  # examples.chunk_spans' entry for this chunk


def chunk_specs(
    info: audio_io.AudioFileInfo, sample_rate: int, chunk_secs: float, example_secs: float, hop_secs: float
) -> list[ChunkSpec]:
    """The chunks of a validated file: a spec per chunk, or one for the whole file if it cannot seek."""
    spans = _spans(info, sample_rate, chunk_secs, example_secs, hop_secs)
    if not audio_io.is_seekable(info.path):
        return [ChunkSpec(info.path, None, None)]
    return [ChunkSpec(info.path, i, span) for i, span in enumerate(spans)]


def _spans(info, sample_rate, chunk_secs, example_secs, hop_secs):
    n_audio, n_16k = (int(info.frames / info.sample_rate * r) for r in (sample_rate, CREPE_SAMPLE_RATE))
    return ex_lib.chunk_spans(n_audio, n_16k, sample_rate, chunk_secs, example_secs, hop_secs)


def load_chunk(
    spec: ChunkSpec, sample_rate: int, chunk_secs: float, example_secs: float, hop_secs: float
) -> Iterator[dict[str, np.ndarray]]:
    """Beam FlatMap: a chunk spec -> its chunk example {'audio', 'audio_16k', 'key'}, reading only that span.

    A whole-file spec streams every chunk of the file (load_chunks).
    """
    if spec.index is None:
        yield from load_chunks(spec.path, sample_rate, chunk_secs, example_secs, hop_secs)
        return
    if spec.index == 0:
        logging.info("Loading '%s'.", spec.path)
        _counter('files-loaded').inc()
    if int(sample_rate) == CREPE_SAMPLE_RATE:
        (audio,) = audio_io.read_span(spec.path, spec.spans[1:], [CREPE_SAMPLE_RATE])
        audio_16k = audio
    else:
        audio, audio_16k = audio_io.read_span(spec.path, spec.spans, [sample_rate, CREPE_SAMPLE_RATE])
    _counter('chunks').inc()
    yield {'audio': audio, 'audio_16k': audio_16k, 'key': ex_lib.chunk_key(spec.path, spec.index)}


class AddF0(beam.DoFn):
    """Beam DoFn: CREPE f0 and confidence; the network loads once per worker (setup), batched inference.

    Args:
        frame_rate, center, viterbi, crepe_model, f0_skip_below_db: as prepare_tfrecord.
        allow_memory_growth: set GPU memory growth before CREPE loads.
        tf_threads: TensorFlow's intra- and inter-op threads in this worker (None: TensorFlow's default,
            one per core). Local multi-process workers get cores / workers, so W workers do not run W
            thread pools of every core each, spinning against one another.
    """

    def __init__(
        self,
        frame_rate: int,
        center: bool,
        viterbi: bool,
        crepe_model: str = 'full',
        allow_memory_growth: bool = False,
        tf_threads: int | None = None,
        f0_skip_below_db: float | None = None,
    ):
        super().__init__()
        self._frame_rate = frame_rate
        self._center = center
        self._viterbi = viterbi
        self._crepe_model = crepe_model
        self._allow_memory_growth = allow_memory_growth
        self._tf_threads = tf_threads
        self._skip_below_db = f0_skip_below_db
        self._model = None

    def setup(self) -> None:
        if self._tf_threads:
            _limit_tf_threads(self._tf_threads)
        if self._allow_memory_growth:
            set_gpu_memory_growth()
        from clarinet_ddsp import pitch

        start = time.time()
        self._model = pitch.get_model(self._crepe_model)
        # Trace the network now, so the first chunk's time (and realtime factor) is CREPE's own.
        pitch.compute_f0(np.zeros(CREPE_FRAME_SIZE, np.float32), self._frame_rate, model=self._model)
        logging.info('CREPE %s loaded in %.1f s.', self._crepe_model, time.time() - start)

    def _f0(self, audio, frame_rate, viterbi=True, padding='same'):
        from clarinet_ddsp import pitch

        return pitch.compute_f0(
            audio,
            frame_rate,
            viterbi=viterbi,
            padding=padding,
            model=self._model,
            skip_below_db=self._skip_below_db,
        )

    def process(self, ex: ex_lib.Example) -> Iterator[ex_lib.Example]:
        _counter('f0-chunks').inc()
        start = time.time()
        out = ex_lib.add_f0(ex, self._frame_rate, self._center, self._viterbi, f0_fn=self._f0)
        wall = time.time() - start
        secs = ex['audio_16k'].shape[0] / CREPE_SAMPLE_RATE
        # Summed over workers: f0-audio-ms / f0-wall-ms is one worker's realtime factor.
        _counter('f0-audio-ms').inc(int(round(1000 * secs)))
        _counter('f0-wall-ms').inc(int(round(1000 * wall)))
        logging.info(
            'f0 (CREPE %s) of a %.1f s chunk in %.1f s (%.2fx realtime).',
            self._crepe_model,
            secs,
            wall,
            secs / max(wall, 1e-9),
        )
        yield out


def _limit_tf_threads(n_threads: int) -> None:
    """Sets TensorFlow's thread pools in this process (only possible before its first op)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        tf.config.threading.set_inter_op_parallelism_threads(n_threads)
    except RuntimeError as error:  # TensorFlow already ran something in this worker.
        logging.warning('Could not limit TensorFlow to %d thread(s) in this worker: %s', n_threads, error)


def local_worker_threads(flags: Sequence[str]) -> int | None:
    """TensorFlow threads per local multi-process DirectRunner worker: cores / workers (else None)."""
    if not _is_direct(flags):
        return None
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    direct = PipelineOptions(list(flags)).view_as(DirectOptions)
    if direct.direct_running_mode != 'multi_processing':
        return None
    cores = os.cpu_count() or 1
    workers = direct.direct_num_workers or cores
    return max(1, cores // workers)


def add_loudness(ex: ex_lib.Example, frame_rate: int, center: bool) -> ex_lib.Example:
    """Beam Map: loudness_db (A-weighted, n_fft 512) of audio_16k."""
    _counter('loudness-chunks').inc()
    return ex_lib.add_loudness(ex, frame_rate, center, n_fft=512, loudness_fn=_loudness)


def _loudness(audio, sample_rate, frame_rate, n_fft, padding):
    from clarinet_ddsp import spectral_ops

    loudness = spectral_ops.compute_loudness(audio, sample_rate, frame_rate, n_fft, padding=padding)
    return loudness.numpy() if hasattr(loudness, 'numpy') else loudness


def split_example(ex: ex_lib.Example, split: str, **kwargs: Any) -> Iterator[ex_lib.Example]:
    """Beam FlatMap: sliding windows, counted per split."""
    for window in ex_lib.split_example(ex, **kwargs):
        _counter(f'examples-{split}').inc()
        yield window


def to_tfexample(ex: ex_lib.Example) -> Any:
    """Beam Map: the example as a tf.train.Example, counted."""
    _counter('tfexamples').inc()
    return ex_lib.to_tfexample(ex)


class WriteShards(beam.PTransform):
    """tf.train.Examples -> exactly num_shards TFRecord files <prefix>-NNNNN-of-MMMMM, without side inputs.

    Beam's WriteToTFRecord finalises through side inputs, which Beam's DaskRunner recomputes from the
    start of the pipeline for each use (all of CREPE twice) and, with several input partitions, for each
    partition, each time with a new temporary directory (the run then fails). Here each example goes to a
    shard by a checksum of its bytes (the same on a retry), one task writes each shard, and empty shards
    are written too.
    """

    def __init__(self, prefix: str, num_shards: int):
        super().__init__()
        self._prefix = prefix
        self._num_shards = int(num_shards)

    def expand(self, examples: beam.PCollection) -> beam.PCollection:
        n = self._num_shards
        keyed = examples | 'to_shard' >> beam.Map(_shard_record, n)
        every_shard = examples.pipeline | 'every_shard' >> beam.Create([(i, None) for i in range(n)])
        return (
            (keyed, every_shard)
            | 'flatten' >> beam.Flatten()
            | 'group' >> beam.GroupByKey()
            | 'write_shard' >> beam.Map(_write_shard, self._prefix, n)
        )


def _shard_record(example, num_shards: int) -> tuple[int, bytes]:
    record = example.SerializeToString()
    return zlib.crc32(record) % num_shards, record


def _write_shard(item, prefix: str, num_shards: int) -> str:
    """One shard's records into a hidden file, renamed into place whole (a retried task overwrites it)."""
    from apache_beam.io.tfrecordio import _TFRecordUtil

    index, records = item
    path = f'{prefix}-{index:05d}-of-{num_shards:05d}'
    partial = FileSystems.join(os.path.dirname(prefix), f'.partial-{uuid.uuid4().hex}')
    with FileSystems.create(partial) as f:
        for record in records:
            if record is not None:  # the marker that makes an empty shard exist
                _TFRecordUtil.write_record(f, record)
    FileSystems.rename([partial], [path])
    return path


class _WriteParts(beam.DoFn):
    """(shard, record) -> files <prefix>-NNNNN.part-<bundle>, one per shard a bundle met; yields their paths.

    The DirectRunner holds everything a GroupByKey groups in its own memory (the windows of an hour of
    audio are gigabytes), so its examples are not grouped: each bundle writes its own part files, and
    _assemble_shards concatenates them. Only parts of finished bundles are yielded.
    """

    def __init__(self, prefix: str):
        super().__init__()
        self._prefix = prefix
        self._files: dict[int, tuple[str, object]] = {}
        self._bundle = ''

    def start_bundle(self):
        self._files = {}
        self._bundle = uuid.uuid4().hex[:12]

    def process(self, item):
        from apache_beam.io.tfrecordio import _TFRecordUtil

        index, record = item
        if index not in self._files:
            path = f'{self._prefix}-{index:05d}.part-{self._bundle}'
            self._files[index] = (path, FileSystems.create(path, compression_type=_RAW))
        _TFRecordUtil.write_record(self._files[index][1], record)

    def finish_bundle(self):
        from apache_beam.transforms.window import GlobalWindow
        from apache_beam.utils.windowed_value import WindowedValue

        for path, f in self._files.values():
            f.close()
            yield WindowedValue(path, 0, [GlobalWindow()])
        self._files = {}


def _write_manifest(paths: list[str], prefix: str) -> None:
    with FileSystems.create(prefix + _MANIFEST, compression_type=_RAW) as f:
        f.write(json.dumps(sorted(paths)).encode())


def _assemble_shards(prefix: str, num_shards: int) -> None:
    """The part files of each shard (as the manifest lists them) -> <prefix>-NNNNN-of-MMMMM.

    Records are copied whole (framing and checksums) in a shuffled order, one at a time: memory holds
    their offsets only. Empty shards are written too.
    """
    from clarinet_ddsp.training import tfrecord_scan

    with FileSystems.open(prefix + _MANIFEST, compression_type=_RAW) as f:
        parts = json.loads(f.read().decode())
    by_shard: dict[int, list[str]] = {}
    for part in parts:
        by_shard.setdefault(int(re.search(r'-(\d{5})\.part-', part).group(1)), []).append(part)
    for index in range(num_shards):
        records = [
            (part, offset - 12, length + 16)  # the whole framed record: length, CRC, data, CRC
            for part in by_shard.get(index, [])
            for offset, length in tfrecord_scan.scan_file(part, check_data=False).records
        ]
        order = np.random.default_rng(index).permutation(len(records))
        handles = {part: FileSystems.open(part, compression_type=_RAW) for part in by_shard.get(index, [])}
        try:
            with FileSystems.create(
                f'{prefix}-{index:05d}-of-{num_shards:05d}', compression_type=_RAW
            ) as out:
                for i in order:
                    part, offset, size = records[i]
                    handles[part].seek(offset)
                    out.write(handles[part].read(size))
        finally:
            for handle in handles.values():
                handle.close()
        if by_shard.get(index):
            FileSystems.delete(by_shard[index])
    FileSystems.delete([prefix + _MANIFEST])


def _auto_num_shards(infos, sample_rate, frame_rate, example_secs, hop_secs, chunk_secs) -> int:
    """About 150 MB of examples per shard (TensorFlow's advice is 100-200 MB)."""
    secs = sum(info.secs for info in infos)
    window_secs = example_secs or chunk_secs or max(secs, 1.0)
    n_windows = secs / hop_secs if example_secs and hop_secs else secs / window_secs
    window_bytes = 4 * window_secs * (sample_rate + CREPE_SAMPLE_RATE + 3 * frame_rate)
    return int(min(1024, max(1, math.ceil(n_windows * window_bytes / 150e6))))


def set_gpu_memory_growth() -> None:
    """GPU memory growth for a pipeline process; a reused worker whose GPU is already set up keeps it."""
    from clarinet_ddsp.training import distribution

    try:
        distribution.allow_memory_growth()
    except RuntimeError as error:  # already initialised: nothing to change any more
        logging.warning('%s', error)


DASK_RUNNER = 'apache_beam.runners.dask.dask_runner.DaskRunner'


def runner_options(pipeline_options: Sequence[str]) -> list[str]:
    """Pipeline flags for Beam; a DirectRunner (the default) gets multi-processing workers on every core.

    The workers are added only when the flags say nothing about them. `--runner=DaskRunner` (or `dask`)
    becomes Beam's full class name, which Beam needs for it, with one input file per Dask partition unless
    --dask_npartitions or --dask_partition_size is given (Beam's default puts up to 128 files in one
    partition, i.e. on one worker thread, and Reshuffle does not move data on Dask). Other runners get the
    flags as given.

    Raises:
        ValueError: a --runner that is neither one of Beam's runners nor a dotted class name, or the Dask
            runner without dask.distributed installed.
    """
    flags = [_resolve_runner(f) for f in pipeline_options if f]
    direct = _is_direct(flags)
    mentioned = any(re.match(r'--?direct_(num_workers|running_mode)', f) for f in flags)
    if direct and not mentioned:
        flags += ['--direct_num_workers=0', '--direct_running_mode=multi_processing']
    dask_partitions = any(re.match(r'--?dask_(npartitions|partition_size)', f) for f in flags)
    if f'--runner={DASK_RUNNER}' in flags and not dask_partitions:
        flags += ['--dask_partition_size=1']
    return flags


def _resolve_runner(flag: str) -> str:
    """A --runner=NAME flag checked against Beam's runners, the short Dask names mapped to the class."""
    match = re.fullmatch(r'--?runner=(.*)', flag)
    if not match:
        return flag
    from apache_beam.options.pipeline_options import StandardOptions

    name = match.group(1)
    known = {path.rsplit('.', 1)[-1].lower(): path for path in StandardOptions.ALL_KNOWN_RUNNERS}
    known['daskrunner'] = DASK_RUNNER
    path = known.get(name.lower(), known.get(name.lower() + 'runner'))
    if path is None and '.' not in name:
        names = sorted({p.rsplit('.', 1)[-1] for p in known.values()})
        raise ValueError(
            f'pipeline_options: --runner={name!r} is not a Beam runner; use one of {", ".join(names)}, '
            'or the full dotted name of a PipelineRunner class (e.g. --runner=' + DASK_RUNNER + ').'
        )
    if (path or name) == DASK_RUNNER:
        import importlib.util

        if importlib.util.find_spec('distributed') is None:
            raise ValueError(
                f'pipeline_options: --runner={name} needs dask.distributed, which is not installed; '
                "install it with: pip install 'clarinet_ddsp[dask]'."
            )
        return f'--runner={DASK_RUNNER}'
    return flag


def _is_direct(flags: Sequence[str]) -> bool:
    from apache_beam.options.pipeline_options import (
        PipelineOptions,
        StandardOptions,
    )

    runner = PipelineOptions(list(flags)).view_as(StandardOptions).runner
    return runner is None or str(runner).split('.')[-1] in ('DirectRunner', 'direct', 'Direct')


def _make_pipeline(flags: Sequence[str]) -> beam.Pipeline:
    """A Beam pipeline; the DirectRunner is run on Beam's Python FnApiRunner (honours direct_num_workers).

    Recent Beam DirectRunners first try Prism, a Go runner fetched from GitHub at run time; that needs the
    network and ignores the multi-processing options, so the FnApiRunner is chosen here directly (it is
    what the DirectRunner falls back to).
    """
    options = beam.options.pipeline_options.PipelineOptions(list(flags))
    if not _is_direct(flags):
        return beam.Pipeline(options=options)
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision_info = fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    )
    return beam.Pipeline(runner=fn_runner.FnApiRunner(provision_info=provision_info), options=options)


@dataclasses.dataclass
class PrepareResult:
    """What prepare_tfrecord did."""

    n_files: int
    skipped: list[audio_io.BadAudioFileError]
    shards: list[str]
    counters: dict[str, int]
    padded: list[str] = dataclasses.field(default_factory=list)  # files shorter than one example


def _validate_args(
    output_tfrecord_path,
    num_shards,
    sample_rate,
    frame_rate,
    example_secs,
    hop_secs,
    eval_split_fraction,
    chunk_secs,
    crepe_model,
    f0_skip_below_db,
):
    def bad(name, value, constraint):
        raise ArgumentError('prepare_tfrecord', name, value, constraint)

    if not output_tfrecord_path:
        bad(
            'output_tfrecord_path',
            output_tfrecord_path,
            "must be the prefix of the output shards, e.g. '/data/train.tfrecord'.",
        )
    if '://' in output_tfrecord_path:
        try:
            FileSystems.get_filesystem(output_tfrecord_path)
        except ValueError:
            bad(
                'output_tfrecord_path',
                output_tfrecord_path,
                "is on a filesystem Beam's TFRecord writer does not have (it writes to Beam's own: local "
                'paths, gs://, s3://, hdfs://); write the shards locally, then copy them with tf.io.gfile.',
            )
    if num_shards is not None and int(num_shards) < 1:
        bad('num_shards', num_shards, 'must be a positive number of shards (or left unset for automatic).')
    if int(sample_rate) <= 0:
        bad('sample_rate', sample_rate, 'must be a positive rate in Hz, e.g. 16000.')
    if not frame_rate or int(frame_rate) <= 0 or CREPE_SAMPLE_RATE % int(frame_rate):
        bad('frame_rate', frame_rate, "must divide 16000 (integer hop at CREPE's rate), e.g. 250 or 100.")
    if example_secs < 0:
        bad('example_secs', example_secs, 'must be >= 0 (0 keeps chunks unsplit).')
    if example_secs > 0 and hop_secs <= 0:
        bad('hop_secs', hop_secs, 'must be > 0 seconds between windows, e.g. 1.')
    if not 0 <= eval_split_fraction < 1:
        bad('eval_split_fraction', eval_split_fraction, 'must be in [0, 1), e.g. 0.1 (0: no eval split).')
    if chunk_secs < 0 or (chunk_secs and example_secs and chunk_secs < example_secs):
        bad('chunk_secs', chunk_secs, f'must be 0 (no chunking) or at least example_secs={example_secs:g}.')
    if f0_skip_below_db is not None and not -200 < f0_skip_below_db < 0:
        bad('f0_skip_below_db', f0_skip_below_db, 'must be a level below full scale in dB, e.g. -70.')
    if crepe_model not in CREPE_CAPACITIES:
        bad('crepe_model', crepe_model, f'must be one of {CREPE_CAPACITIES}.')
    try:  # On the driver, before any worker starts: a capacity whose weights are not installed.
        crepe_weights_path(crepe_model)
    except ValueError as error:
        raise ArgumentError(
            'prepare_tfrecord', 'crepe_model', crepe_model, f'has no weights: {error}'
        ) from error


def _check_files(paths, skip_bad_files):
    logging.info('Validating %d input audio file(s).', len(paths))
    good, bad = audio_io.validate_audio_files(paths)
    if bad and not skip_bad_files:
        raise audio_io.BadAudioFilesError(bad, len(paths))
    if bad:
        logging.warning(
            'skip_bad_files: skipping %d of %d file(s):\n%s',
            len(bad),
            len(paths),
            '\n'.join(f'  {e}' for e in bad),
        )
    if not good:
        raise ValueError(f'none of the {len(paths)} input files can be prepared; nothing was written.')
    return good, bad


def _padded_files(infos: Sequence[audio_io.AudioFileInfo], example_secs: float) -> list[str]:
    """The files shorter than one example: each becomes one example padded with silence (as in ddsp)."""
    if not example_secs:
        return []
    needed = int(example_secs * CREPE_SAMPLE_RATE)
    return [info.path for info in infos if int(info.secs * CREPE_SAMPLE_RATE) < needed]


def _move_into_place(tmp_dir: str, out_dir: str, prefixes: Sequence[str]) -> list[str]:
    """Moves the finished shards into out_dir, after removing the older shards of the same prefixes.

    Old and new shards are never visible together: a run killed (SIGKILL) in these few milliseconds
    leaves part of the new set, each shard complete, which TFRecordProvider reports as an incomplete
    set; a rerun with the same flags completes it.
    """
    new = sorted(m.path for r in FileSystems.match([FileSystems.join(tmp_dir, '*')]) for m in r.metadata_list)
    new = [p for p in new if os.path.basename(p).startswith(tuple(prefixes))]
    final = [FileSystems.join(out_dir, os.path.basename(p)) for p in new]
    old_pattern = re.compile('^(' + '|'.join(re.escape(p) for p in prefixes) + r')-\d{5}-of-\d{5}$')
    existing = [m.path for r in FileSystems.match([FileSystems.join(out_dir, '*')]) for m in r.metadata_list]
    old = [p for p in existing if old_pattern.match(os.path.basename(p))]
    if old:
        logging.info('Replacing %d older shard(s) of the same prefix.', len(old))
        FileSystems.delete(old)
    FileSystems.rename(new, final)
    return final


def _remove_abandoned_tmp_dirs(out_dir: str, basename: str) -> None:
    """Removes the scratch folders of earlier runs on this prefix that were killed (we hold its lock)."""
    if '://' in out_dir or not os.path.isdir(out_dir):
        return  # Unlocked remote prefixes: another run's scratch may be live.
    for name in sorted(os.listdir(out_dir)):
        if name.startswith(f'.{basename}{_TMP_INFIX}'):
            path = os.path.join(out_dir, name)
            logging.warning('Removing %s, left by a preparation that was killed.', path)
            shutil.rmtree(path, ignore_errors=True)


def _raise_if_disk_full(error: BaseException, out_dir: str) -> None:
    if disk_space.is_disk_full(error):
        raise disk_space.disk_full_error(
            'prepare',
            out_dir,
            'nothing of this run was published; the older shards of this prefix are unchanged',
            'or point --output_tfrecord_path elsewhere',
        ) from error


def prepare_tfrecord(
    input_audio_paths: Sequence[str],
    output_tfrecord_path: str,
    num_shards: int | None = None,
    sample_rate: int = 16000,
    frame_rate: int = 250,
    example_secs: float = 4,
    hop_secs: float = 1,
    eval_split_fraction: float = 0.0,
    chunk_secs: float = 20.0,
    center: bool = False,
    viterbi: bool = True,
    pipeline_options: Sequence[str] = ('--runner=DirectRunner',),
    crepe_model: str = 'full',
    skip_bad_files: bool = False,
    allow_memory_growth: bool = False,
    f0_skip_below_db: float | None = None,
) -> PrepareResult:
    """Audio files -> TFRecord shards of examples with ddsp's features (as ddsp's prepare_tfrecord).

    Args:
        input_audio_paths: audio files (anything libsndfile decodes; any rate and channel count).
        output_tfrecord_path: shard prefix; shards are <prefix>-NNNNN-of-MMMMM (with an eval split:
            <prefix>-train-... and <prefix>-eval-...).
        num_shards: shards per split; None lets the runner decide.
        sample_rate: rate of the 'audio' feature (audio_16k is always 16 kHz).
        frame_rate: f0/loudness frames per second.
        example_secs: window length in seconds (0: chunks are not split).
        hop_secs: seconds between window starts.
        eval_split_fraction: fraction of the chunks kept apart for eval (disjoint from train).
        chunk_secs: files are cut into chunks this long (the unit of the eval split and of parallelism).
        center: 'center' padding (one more frame per window) instead of 'same'.
        viterbi: Viterbi decoding of CREPE's salience.
        pipeline_options: Beam flags; a DirectRunner uses multi-processing workers on every core.
        crepe_model: CREPE capacity (pitch.CAPACITIES); 'full' and 'tiny' ship with the package.
        skip_bad_files: skip (and report) files that cannot be prepared instead of failing up front.
        allow_memory_growth: set GPU memory growth in each worker before CREPE loads.
        f0_skip_below_db: CREPE frames quieter than this (dB re full scale) hold no pitch: f0 0 Hz,
            confidence 0, and the Viterbi path keeps a note's pitch to its end instead of sliding away
            before it (pitch.SILENT_FRAME_DB). None analyses every frame, as ddsp.

    Returns:
        PrepareResult with the file count, skipped files, shard paths and Beam counters.

    Raises:
        ValueError: a bad argument; BadAudioFilesError (a ValueError) naming each file that cannot be
            prepared and why, before anything is written.
    """
    _validate_args(
        output_tfrecord_path,
        num_shards,
        sample_rate,
        frame_rate,
        example_secs,
        hop_secs,
        eval_split_fraction,
        chunk_secs,
        crepe_model,
        f0_skip_below_db,
    )
    options = runner_options(list(pipeline_options))
    if num_shards is None and f'--runner={DASK_RUNNER}' in options:
        raise ArgumentError(
            'prepare_tfrecord',
            'num_shards',
            num_shards,
            'must be a number of shards on the DaskRunner, e.g. 16 (about one per 100 MB of examples; a '
            '4 s example is ~0.5 MB).',
        )
    if eval_split_fraction and f'--runner={DASK_RUNNER}' in options:
        raise ArgumentError(
            'prepare_tfrecord',
            'eval_split_fraction',
            eval_split_fraction,
            "needs a Beam side input, which Beam's DaskRunner cannot send to its workers; prepare with "
            'another runner, or without the split (0).',
        )
    paths = list(input_audio_paths)
    if not paths:
        raise ArgumentError(
            'prepare_tfrecord', 'input_audio_paths', paths, 'is empty; give the audio files to prepare.'
        )
    out_dir, basename = os.path.split(
        os.path.abspath(output_tfrecord_path) if '://' not in output_tfrecord_path else output_tfrecord_path
    )
    program = 'clarinet_ddsp_prepare_tfrecord'
    then = 'stops; nothing of this run is published (older shards of this prefix stay as they were)'
    # One preparation per output prefix; its lock is a dot file, outside the shards' glob.
    with (
        locks.hold(out_dir, f'.{basename}.lock', 'preparation'),
        interrupts.raise_on_signals(program, then) as stop,
    ):
        _remove_abandoned_tmp_dirs(out_dir, basename)
        infos, skipped = _check_files(paths, skip_bad_files)
        paths = [info.path for info in infos]
        padded = _padded_files(infos, example_secs)
        if padded:
            logging.info(
                '%d of %d file(s) are shorter than one example (%g s); each gives one example padded '
                'with silence: %s',
                len(padded),
                len(paths),
                example_secs,
                ', '.join(padded),
            )
        direct = _is_direct(options)
        if num_shards is None and direct:
            num_shards = _auto_num_shards(infos, sample_rate, frame_rate, example_secs, hop_secs, chunk_secs)
        logging.info(
            'Preparing %d audio file(s) -> %s (%s shards, CREPE %s).',
            len(paths),
            output_tfrecord_path,
            num_shards or 'auto',
            crepe_model,
        )
        FileSystems.mkdirs(out_dir) if not FileSystems.exists(out_dir) else None
        tmp_dir = FileSystems.join(out_dir, f'.{basename}{_TMP_INFIX}{uuid.uuid4().hex[:8]}')
        FileSystems.mkdirs(tmp_dir)
        tmp_prefix = FileSystems.join(tmp_dir, basename)
        logging.info('Beam pipeline options: %s', options)

        try:
            pipeline = _make_pipeline(options)
            _build(
                pipeline,
                infos,
                tmp_prefix,
                num_shards,
                sample_rate,
                frame_rate,
                example_secs,
                hop_secs,
                eval_split_fraction,
                chunk_secs,
                center,
                viterbi,
                crepe_model,
                allow_memory_growth,
                on_dask=f'--runner={DASK_RUNNER}' in options,
                f0_skip_below_db=f0_skip_below_db,
                tf_threads=local_worker_threads(options),
                direct=direct,
            )
            start = time.time()
            with _package_on_worker_path(direct):
                result = pipeline.run()
                try:
                    result.wait_until_finish()
                finally:
                    _close_client(result)
            counters = _counters(result)
            logging.info('Pipeline finished in %.1f s; counters: %s', time.time() - start, counters)
            prefixes = [f'{basename}-train', f'{basename}-eval'] if eval_split_fraction else [basename]
            if direct:
                for split_prefix in prefixes:
                    _assemble_shards(FileSystems.join(tmp_dir, split_prefix), num_shards)
            with stop.deferred():  # Publishing is a few renames: never cut halfway.
                shards = _move_into_place(tmp_dir, out_dir, prefixes)
        except Exception as error:
            _raise_if_disk_full(error, out_dir)
            raise
        finally:
            if FileSystems.exists(tmp_dir):
                FileSystems.delete([tmp_dir])
    logging.info(
        'Wrote %d shard(s): %s ... %s',
        len(shards),
        shards[0] if shards else '-',
        shards[-1] if shards else '-',
    )
    if padded:
        logging.info('Padded %d of %d file(s) with silence to one example.', len(padded), len(paths))
    if skipped:
        logging.warning('Skipped %d bad file(s): %s', len(skipped), ', '.join(e.path for e in skipped))
    return PrepareResult(n_files=len(paths), skipped=skipped, shards=shards, counters=counters, padded=padded)


@contextlib.contextmanager
def _package_on_worker_path(enabled: bool):
    """Lets local worker processes import clarinet_ddsp from a checkout that is not pip-installed."""
    if not enabled:
        yield
        return
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    before = os.environ.get('PYTHONPATH')
    parts = [p for p in (before or '').split(os.pathsep) if p]
    if root not in parts:
        os.environ['PYTHONPATH'] = os.pathsep.join([root] + parts)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop('PYTHONPATH', None)
        else:
            os.environ['PYTHONPATH'] = before


def _close_client(result) -> None:
    """Closes the client the Dask runner opened for this run (Beam leaves it open; a cluster it started
    itself, without --dask_client_address, goes with it). Other runners' results have no client."""
    client = getattr(result, 'client', None)
    if client is not None:
        client.close()


def _counters(result) -> dict[str, int]:
    try:
        query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(COUNTERS))
    except (AttributeError, NotImplementedError):  # some runners report no metrics
        return {}
    totals: dict[str, int] = {}
    for counter in query.get('counters', []):
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(counter.committed or 0)
    return dict(sorted(totals.items()))


def _build(
    pipeline,
    infos,
    tmp_prefix,
    num_shards,
    sample_rate,
    frame_rate,
    example_secs,
    hop_secs,
    eval_split_fraction,
    chunk_secs,
    center,
    viterbi,
    crepe_model,
    allow_memory_growth,
    on_dask=False,
    tf_threads=None,
    direct=False,
    f0_skip_below_db=None,
):
    import tensorflow as tf

    chunking = dict(
        sample_rate=sample_rate, chunk_secs=chunk_secs, example_secs=example_secs, hop_secs=hop_secs
    )
    specs = [spec for info in infos for spec in chunk_specs(info, **chunking)]
    logging.info('%d chunk(s) of up to %g s from %d file(s).', len(specs), chunk_secs, len(infos))
    chunks = (
        pipeline
        | 'create' >> beam.Create(specs)
        # Spread the chunks over the workers before the expensive step (a few long files would otherwise
        # keep one worker busy). Only the small specs are shuffled; each worker reads its chunk's audio.
        | 'reshuffle_chunks' >> beam.Reshuffle()
        | 'load_chunk' >> beam.FlatMap(load_chunk, **chunking)
        | 'add_f0'
        >> beam.ParDo(
            AddF0(frame_rate, center, viterbi, crepe_model, allow_memory_growth, tf_threads, f0_skip_below_db)
        )
        | 'add_loudness' >> beam.Map(add_loudness, frame_rate=frame_rate, center=center)
    )

    def write(examples, prefix, split):
        window_args = dict(
            sample_rate=sample_rate,
            frame_rate=frame_rate,
            example_secs=example_secs,
            hop_secs=hop_secs,
            center=center,
        )
        windows = examples | f'split_examples_{split}' >> beam.FlatMap(
            split_example, split=split, **window_args
        )
        if direct:  # Nothing grouped: part files per bundle, concatenated after the run (_assemble_shards).
            _ = (
                windows
                | f'make_tfexample_{split}' >> beam.Map(to_tfexample)
                | f'to_shard_{split}' >> beam.Map(_shard_record, num_shards)
                | f'write_parts_{split}' >> beam.ParDo(_WriteParts(prefix))
                | f'list_parts_{split}' >> beam.combiners.ToList()
                | f'manifest_{split}' >> beam.Map(_write_manifest, prefix)
            )
            return
        records = (
            windows
            | f'reshuffle_{split}' >> beam.Reshuffle()
            | f'make_tfexample_{split}' >> beam.Map(to_tfexample)
        )
        if on_dask:
            _ = records | f'write_{split}' >> WriteShards(prefix, num_shards)
            return
        _ = records | f'write_{split}' >> beam.io.tfrecordio.WriteToTFRecord(
            prefix, num_shards=num_shards or 0, coder=beam.coders.ProtoCoder(tf.train.Example)
        )

    if not eval_split_fraction:
        write(chunks, tmp_prefix, 'train')
        return
    # The chunk keys follow from the files' lengths: the split is decided here, without a side input.
    keys = [ex_lib.chunk_key(info.path, i) for info in infos for i in range(len(_spans(info, **chunking)))]
    eval_keys = ex_lib.eval_chunk_keys(keys, eval_split_fraction)
    splits = chunks | 'train_eval_split' >> beam.Partition(
        lambda ex, n: 0 if ex['key'] in eval_keys else 1, 2
    )
    write(splits[0], f'{tmp_prefix}-eval', 'eval')
    write(splits[1], f'{tmp_prefix}-train', 'train')
