r"""clarinet_ddsp_resynth: play any monophonic recording through a trained model (timbre transfer).

clarinet_ddsp_resynth --save_dir runs/clarinet --input voice.wav --output voice_as_clarinet.wav \
  [--pitch_shift 0] [--octave_shift 0] [--loudness_shift_db 0] [--noauto_adjust] [--crepe_model full]
"""

from __future__ import annotations

import io
import os
import time
from typing import Any

import numpy as np
from absl import app, flags, logging

from clarinet_ddsp.cli import entry, shared_flags

FLAGS = flags.FLAGS

shared_flags.define_save_dir()
flags.DEFINE_string('input', None, 'Monophonic recording: WAV/FLAC/OGG/MP3, any rate, any length.')
shared_flags.define_output()
flags.DEFINE_float('pitch_shift', 0.0, 'Semitones added to the f0 (after auto-adjust).')
flags.DEFINE_integer('octave_shift', 0, 'Octaves added to the f0 (after auto-adjust).')
flags.DEFINE_float('loudness_shift_db', 0.0, 'dB added to the loudness (after auto-adjust).')
flags.DEFINE_boolean(
    'auto_adjust',
    True,
    "Shift the pitch by octaves toward the training data's "
    "mean pitch and map note-on loudness onto its distribution (ddsp's "
    'timbre-transfer notebook); uses save_dir/dataset_statistics.json.',
)
shared_flags.define_crepe_model()
shared_flags.define_checkpoint()
shared_flags.define_reverb()
flags.DEFINE_float(
    'piece_secs',
    60.0,
    'Analyse and synthesise long inputs in pieces of this many '
    'seconds (bounds memory; pieces join seamlessly).',
)
flags.DEFINE_boolean(
    'gate_silence',
    True,
    'Silence the output where the input is silent (below the -80 dB loudness floor); '
    "--nogate_silence keeps the model's faint tone, noise and reverb tail there.",
)
flags.DEFINE_string('plot', None, 'Also write a PNG with input/output spectrograms and f0 tracks.')


def _write_bytes(path: str, data: bytes) -> None:
    """Writes a file through tf.io.gfile (local paths, gs://, ...), creating its folder."""
    import tensorflow as tf

    directory = os.path.dirname(path)
    if directory:
        tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(path, 'wb') as f:
        f.write(data)


def write_wav(path: str, audio: np.ndarray, sample_rate: int, block: int = 1 << 20) -> float:
    """Writes 16-bit PCM; scales down (and says so) only if the peak exceeds full scale.

    A local file is written block by block into a hidden file beside it and renamed into place (no
    half-written WAV at path, no second copy of an hour of audio in memory); other filesystems
    (gs://, ...) get the encoded bytes through tf.io.gfile.

    Returns:
        The peak of the written audio.
    """
    import soundfile as sf

    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    scale = 1.0
    if peak > 1.0:
        logging.warning('Output peak %.2f exceeds full scale; scaled to 0.99 to avoid clipping.', peak)
        scale, peak = 0.99 / peak, 0.99
    if '://' in path:
        buffer = io.BytesIO()
        scaled = audio * np.float32(scale) if scale != 1.0 else audio
        sf.write(buffer, scaled, sample_rate, subtype='PCM_16', format='WAV')
        _write_bytes(path, buffer.getvalue())
        return peak
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f'.{os.path.basename(path)}.partial-{os.getpid()}')
    try:
        with sf.SoundFile(partial, 'w', sample_rate, 1, subtype='PCM_16', format='WAV') as f:
            for start in range(0, audio.size, block):
                piece = audio[start : start + block]
                f.write(piece * np.float32(scale) if scale != 1.0 else piece)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return peak


def write_plot(path: str, result: dict[str, Any], f0_out_hz: np.ndarray | None = None) -> None:
    """Spectrograms of input and output and the f0 tracks (input, used, and the output's if given)."""
    from clarinet_ddsp.training import summaries

    sr = result['sample_rate']
    fig = summaries.new_figure((10, 9))
    axes = fig.subplots(3, 1)
    for ax, audio, title in (
        (axes[0], result['features']['audio'], 'input'),
        (axes[1], result['audio'], 'resynthesis'),
    ):
        ax.specgram(audio, Fs=sr, NFFT=1024, noverlap=768, cmap='magma')
        ax.set_ylim(0, min(sr / 2, 5000))
        ax.set_title(title)
        ax.set_ylabel('Hz')
    hop_secs = len(result['features']['audio']) / sr / max(1, result['features']['f0_hz'].size)
    times = np.arange(result['features']['f0_hz'].size) * hop_secs
    axes[2].plot(times, result['features']['f0_hz'], label='input f0 (CREPE)', lw=1)
    axes[2].plot(times, result['features_used']['f0_hz'], label='f0 used', lw=1)
    if f0_out_hz is not None:
        axes[2].plot(
            times[: len(f0_out_hz)], f0_out_hz[: len(times)], label='output f0 (CREPE)', lw=1, ls='--'
        )
    axes[2].set_yscale('log')
    axes[2].set_xlabel('s')
    axes[2].set_ylabel('Hz')
    axes[2].legend(loc='upper right')
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=80, format=os.path.splitext(path)[1][1:] or 'png')
    _write_bytes(path, buffer.getvalue())


def main(argv=()) -> None:
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    shared_flags.require(
        ('save_dir', 'input', 'output'),
        'clarinet_ddsp_resynth --save_dir runs/clarinet --input voice.wav --output voice_as_clarinet.wav',
    )
    if FLAGS.piece_secs < 1.0:
        raise ValueError(f'--piece_secs={FLAGS.piece_secs} must be >= 1 second.')
    import tensorflow as tf

    if not tf.io.gfile.exists(FLAGS.input) or tf.io.gfile.isdir(FLAGS.input):
        raise ValueError(f'--input={FLAGS.input}: no such file.')
    from clarinet_ddsp.inference import resynth

    start = time.time()
    result = resynth.resynthesize(
        FLAGS.save_dir,
        input_path=FLAGS.input,
        pitch_shift=FLAGS.pitch_shift,
        octave_shift=FLAGS.octave_shift,
        loudness_shift_db=FLAGS.loudness_shift_db,
        auto_adjust_features=FLAGS.auto_adjust,
        crepe_model=FLAGS.crepe_model,
        checkpoint=FLAGS.checkpoint,
        include_reverb=FLAGS.reverb,
        piece_secs=FLAGS.piece_secs,
        gate_silence=FLAGS.gate_silence,
    )
    peak = write_wav(FLAGS.output, result['audio'], result['sample_rate'])
    if FLAGS.plot:
        write_plot(FLAGS.plot, result)
        logging.info('Wrote %s', FLAGS.plot)
    adj = result['adjustment']
    logging.info(
        'Wrote %s: %.2f s at %d Hz, peak %.2f, from %s; pitch shifted by %+.2f semitones '
        '(auto %+d octave(s)), loudness %s (%.1f s)',
        FLAGS.output,
        result['audio'].size / result['sample_rate'],
        result['sample_rate'],
        peak,
        result['checkpoint'],
        adj.semitones_total,
        adj.octave_shift_auto,
        'mapped onto the training data' if adj.loudness_mapped else 'as analysed',
        time.time() - start,
    )


def console_entry_point() -> None:
    """The clarinet_ddsp_resynth console script."""
    entry.run(main, 'clarinet_ddsp_resynth')


if __name__ == '__main__':
    console_entry_point()
