"""Audio files -> mono float32 at a target rate, block by block (libsndfile + soxr), and their validation."""

from __future__ import annotations

import dataclasses
import glob as glob_lib
import math
import os
from collections.abc import Iterator, Sequence

import numpy as np
import soundfile as sf
import soxr

from clarinet_ddsp.spectral_ops import CREPE_FRAME_SIZE, CREPE_SAMPLE_RATE

BLOCK_FRAMES = 1 << 16  # Native frames read at a time: memory stays bounded on hour-long files.
SILENCE_PEAK = 1e-4  # A file whose peak is below -80 dBFS is treated as silent.


class BadAudioFileError(ValueError):
    """One input file that cannot be prepared; the message names the path and the reason."""

    def __init__(self, path: str, reason: str):
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason


class BadAudioFilesError(ValueError):
    """Input files that cannot be prepared (raised before anything is written); .errors lists them."""

    def __init__(self, errors: Sequence[BadAudioFileError], n_files: int):
        listing = '\n'.join(f'  {e}' for e in errors)
        super().__init__(
            f'{len(errors)} of {n_files} input file(s) cannot be prepared; nothing was written:\n'
            f'{listing}\nFix or remove them, or pass --skip_bad_files to prepare the others.'
        )
        self.errors = list(errors)


@dataclasses.dataclass(frozen=True)
class AudioFileInfo:
    """What validation learned about a usable file."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    peak: float

    @property
    def secs(self) -> float:
        return self.frames / self.sample_rate


def _is_remote(path: str) -> bool:
    return '://' in path


def _tf_reads(path: str) -> bool:
    """True if TensorFlow has a filesystem for the path's scheme (gs://, ram://, ...; as ddsp reads
    audio), False for a scheme only Beam knows (e.g. s3:// without tensorflow-io)."""
    import tensorflow as tf

    try:
        tf.io.gfile.exists(path)
    except tf.errors.UnimplementedError:
        return False
    return True


def find_audio_files(filepatterns: Sequence[str]) -> list[str]:
    """Expands globs (local, or any filesystem Beam knows such as gs://) into a sorted list of paths.

    Raises:
        ValueError: no patterns, or a pattern that matches no file (one line naming the pattern).
    """
    patterns = [p.strip() for p in filepatterns if p and p.strip()]
    if not patterns:
        raise ValueError(
            '--input_audio_filepatterns is empty; give a comma-separated list of globs, '
            "e.g. --input_audio_filepatterns='datasets/clarinet_notes/*.wav'."
        )
    paths = []
    for pattern in patterns:
        if _is_remote(pattern) and _tf_reads(pattern):
            import tensorflow as tf

            matched = [p for p in tf.io.gfile.glob(pattern) if not tf.io.gfile.isdir(p)]
        elif _is_remote(pattern):
            from apache_beam.io.filesystems import FileSystems

            matched = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
        else:
            matched = [p for p in glob_lib.glob(os.path.expanduser(pattern)) if os.path.isfile(p)]
        if not matched:
            raise ValueError(
                f'--input_audio_filepatterns: {pattern!r} matches no files; check the path '
                '(and quote the glob so the shell does not expand it).'
            )
        paths.extend(matched)
    return sorted(set(paths))


def _open(path: str) -> sf.SoundFile:
    """Opens with libsndfile; remote paths through TensorFlow's filesystems (tf.io.gfile, as ddsp), or
    Beam's for a scheme TensorFlow lacks (seekable file objects either way)."""
    if _is_remote(path) and _tf_reads(path):
        import tensorflow as tf

        return sf.SoundFile(tf.io.gfile.GFile(path, 'rb'))
    if _is_remote(path):
        from apache_beam.io.filesystems import (
            CompressionTypes,
            FileSystems,
        )

        return sf.SoundFile(FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED))
    return sf.SoundFile(path)


def _open_checked(path: str) -> sf.SoundFile:
    """_open, with the failure turned into a BadAudioFileError that says what is wrong."""
    if not _is_remote(path):
        if not os.path.exists(path):
            raise BadAudioFileError(path, 'does not exist.')
        if not os.access(path, os.R_OK):
            raise BadAudioFileError(path, 'cannot be read (permission denied).')
        if os.path.getsize(path) == 0:
            raise BadAudioFileError(path, 'is empty (0 bytes).')
    try:
        return _open(path)
    except sf.LibsndfileError as error:
        raise BadAudioFileError(
            path,
            f'is not audio that libsndfile can decode ({error.error_string}); '
            'use WAV, FLAC, OGG or MP3, or re-export the file.',
        ) from error
    except (OSError, RuntimeError) as error:
        raise BadAudioFileError(path, f'cannot be opened ({error}).') from error


def validate_audio_file(path: str) -> AudioFileInfo:
    """Reads a whole file once, block by block, and checks it can be prepared.

    A file shorter than one example is usable (the pipeline pads it with silence, as ddsp does); one
    too short to analyse is not: under one CREPE frame (1024 samples at 16 kHz, 64 ms).

    Args:
        path: audio file (any format libsndfile decodes).

    Returns:
        AudioFileInfo with the frame count actually read and the peak amplitude.

    Raises:
        BadAudioFileError: unreadable, empty, not audio, no samples, under one CREPE frame, NaN/Inf
            samples, or silent (peak below -80 dBFS).
    """
    with _open_checked(path) as f:
        sample_rate, channels = f.samplerate, f.channels
        frames, peak = 0, 0.0
        try:
            for block in f.blocks(blocksize=BLOCK_FRAMES, dtype='float32', always_2d=True):
                finite = np.isfinite(block)
                if not finite.all():
                    first = frames + int(np.argmin(finite.all(axis=1)))
                    raise BadAudioFileError(
                        path, f'holds NaN or Inf samples (first at frame {first}); repair or remove the file.'
                    )
                if block.size:
                    peak = max(peak, float(np.max(np.abs(block))))
                frames += block.shape[0]
        except sf.LibsndfileError as error:
            raise BadAudioFileError(
                path, f'cannot be decoded after frame {frames} ({error.error_string}); re-export the file.'
            ) from error
    if frames == 0:
        raise BadAudioFileError(path, 'holds no audio samples (a header without data).')
    secs = frames / sample_rate
    if int(secs * CREPE_SAMPLE_RATE) < CREPE_FRAME_SIZE:
        raise BadAudioFileError(
            path,
            f'is {secs * 1000:.1f} ms long, shorter than one CREPE frame ({CREPE_FRAME_SIZE} samples at '
            f'{CREPE_SAMPLE_RATE} Hz, {CREPE_FRAME_SIZE / CREPE_SAMPLE_RATE * 1000:g} ms): too short to '
            'analyse; remove it.',
        )
    if peak < SILENCE_PEAK:
        raise BadAudioFileError(path, f'is silent (peak {peak:.2g}, below -80 dBFS); remove it.')
    return AudioFileInfo(path, sample_rate, channels, frames, peak)


def validate_audio_files(
    paths: Sequence[str], max_workers: int | None = None
) -> tuple[list[AudioFileInfo], list[BadAudioFileError]]:
    """Validates every file (a few threads: decoding releases the GIL); returns (good, bad) in path order."""
    from concurrent import futures

    def check(path):
        try:
            return validate_audio_file(path)
        except BadAudioFileError as error:
            return error

    workers = max_workers or min(8, (os.cpu_count() or 1) + 2)
    with futures.ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, paths))
    good = [r for r in results if isinstance(r, AudioFileInfo)]
    bad = [r for r in results if isinstance(r, BadAudioFileError)]
    return good, bad


class _Resampler:
    """Streaming soxr resampler to one rate (identity when the rates agree) that ends at int(secs * rate)."""

    def __init__(self, in_rate: int, out_rate: int, total_in_frames: int | None):
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype='float32', quality='HQ')
        )
        # ddsp's expected length: int(duration * rate); the resampler's tail is padded or trimmed to it.
        self.expected = None if total_in_frames is None else int(total_in_frames / in_rate * out_rate)
        self.emitted = 0

    def _limit(self, out: np.ndarray) -> np.ndarray:
        if self.expected is not None:
            out = out[: max(0, self.expected - self.emitted)]
        self.emitted += out.shape[0]
        return out

    def __call__(self, mono: np.ndarray, last: bool = False) -> np.ndarray:
        out = mono if self._stream is None else self._stream.resample_chunk(mono, last=last)
        out = self._limit(np.asarray(out, dtype=np.float32))
        if last and self.expected is not None and self.emitted < self.expected:
            pad = np.zeros(self.expected - self.emitted, np.float32)
            self.emitted = self.expected
            out = np.concatenate([out, pad])
        return out


def iter_audio_blocks(
    path: str, sample_rates: Sequence[int], block_frames: int = BLOCK_FRAMES
) -> Iterator[tuple[np.ndarray, ...]]:
    """Reads a file block by block, mixes channels to mono (their mean) and resamples to each rate.

    Yields:
        One tuple per block: float32 [n_samples_at_rate] for each rate in sample_rates. Over the whole
        file, each rate yields exactly int(duration_secs * rate) samples (ddsp's expected length).

    Raises:
        BadAudioFileError: the file cannot be opened or decoded.
    """
    with _open_checked(path) as f:
        total = f.frames if f.frames > 0 else None
        resamplers = [_Resampler(f.samplerate, int(rate), total) for rate in sample_rates]
        try:
            for block in f.blocks(blocksize=block_frames, dtype='float32', always_2d=True):
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0].copy()
                yield tuple(r(mono) for r in resamplers)
        except sf.LibsndfileError as error:
            raise BadAudioFileError(path, f'cannot be decoded ({error.error_string}).') from error
        empty = np.zeros([0], np.float32)
        yield tuple(r(empty, last=True) for r in resamplers)


# Formats libsndfile seeks in sample-exactly; others (MP3, Ogg) are streamed from their start.
SEEKABLE_FORMATS = frozenset({'WAV', 'WAVEX', 'RF64', 'W64', 'AIFF', 'AU', 'CAF', 'FLAC', 'RAW'})
_MARGIN_SECS = 0.1  # Resampler context read beyond a span on each side (soxr HQ needs a few ms).


def is_seekable(path: str) -> bool:
    """True if read_span can read a stretch of the file without decoding it from the start."""
    with _open_checked(path) as f:
        return f.format in SEEKABLE_FORMATS and f.seekable() and f.frames > 0


def read_span(
    path: str, spans: Sequence[tuple[int, int, int]], sample_rates: Sequence[int]
) -> tuple[np.ndarray, ...]:
    """One stretch of a file, mixed to mono and resampled to each rate, as iter_audio_blocks streams it.

    Only that stretch is read (plus 0.1 s of resampler context on each side, started on a frame that
    falls on a sample of every rate), so any part of an hour-long file costs the same; the samples equal
    the streamed ones up to float32 rounding.

    Args:
        path: a file in a seekable format (is_seekable).
        spans: per rate, (start, stop, length): samples [start, stop) of the file at that rate (of its
            int(duration * rate)), zero-padded or cut to length.
        sample_rates: the rates, one per span.

    Returns:
        float32 [length] per rate.
    """
    with _open_checked(path) as f:
        in_rate, total = f.samplerate, f.frames
        step = 1  # A start frame that is a whole number of samples at every rate.
        for rate in sample_rates:
            step = math.lcm(step, in_rate // math.gcd(in_rate, int(rate)))
        first = min(start / rate for (start, _, _), rate in zip(spans, sample_rates))
        last = max(stop / rate for (_, stop, _), rate in zip(spans, sample_rates))
        begin = max(0, int((first - _MARGIN_SECS) * in_rate))
        begin -= begin % step
        end = min(total, int(math.ceil((last + _MARGIN_SECS) * in_rate)))
        f.seek(begin)
        try:
            block = f.read(max(0, end - begin), dtype='float32', always_2d=True)
        except sf.LibsndfileError as error:
            raise BadAudioFileError(path, f'cannot be decoded ({error.error_string}).') from error
    mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0].copy()
    out = []
    for (start, stop, length), rate in zip(spans, sample_rates):
        rate = int(rate)
        stop = min(stop, int(total / in_rate * rate))
        if rate == in_rate:
            resampled, offset = mono, begin
        else:
            resampled = np.asarray(soxr.resample(mono, in_rate, rate, quality='HQ'), np.float32)
            offset = begin * rate // in_rate
        piece = resampled[max(0, start - offset) : max(0, stop - offset)][:length]
        if piece.shape[0] < length:
            piece = np.concatenate([piece, np.zeros(length - piece.shape[0], np.float32)])
        out.append(piece)
    return tuple(out)


def load_audio(path: str, sample_rate: int = 16000) -> np.ndarray:
    """A whole file as mono float32 [int(duration * sample_rate)]: the loader for every whole-file use
    (resynthesis); the pipeline streams blocks with iter_audio_blocks instead.

    Args:
        path: audio file (any format libsndfile decodes, any rate and channel count).
        sample_rate: Hz; other rates are resampled with soxr.

    Raises:
        BadAudioFileError: the file cannot be opened or decoded, holds no samples, or holds NaN or Inf
            samples.
    """
    blocks = []
    for (block,) in iter_audio_blocks(path, [sample_rate]):
        if not np.all(np.isfinite(block)):
            raise BadAudioFileError(path, 'holds NaN or Inf samples; repair or re-export the file.')
        blocks.append(block)
    audio = np.concatenate(blocks)
    if audio.size == 0:
        raise BadAudioFileError(path, 'holds no audio samples; give a recording.')
    return audio
