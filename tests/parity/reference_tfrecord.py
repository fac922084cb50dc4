"""TFRecord cross-reading with magenta/ddsp 3.7.0; runs ONLY inside the reference environment.

Started once by tests/parity/test_tfrecord_crossread.py:
  TF_USE_LEGACY_KERAS=1 PYTHONPATH=tests/parity/ref_stubs .venv-ref/bin/python \
      tests/parity/reference_tfrecord.py --report R.json [--read NAME=PATTERN ...] [--write_wavs W ...]
--read NAME=PATTERN (repeatable; --read_centered_names for --center shards): iterate a few batches of
  shards (written by clarinet_ddsp_prepare_tfrecord) through ddsp.training.data.TFRecordProvider and
  report every feature's batch shape, dtype and value range.
--write_wavs: run ddsp's own prepare_tfrecord_lib.prepare_tfrecord (Beam, DirectRunner) on the WAVs.
  CREPE cannot run here (tests/parity/ref_stubs holds a placeholder), so ddsp's compute_f0 is replaced
  by a stand-in with the same framing (ddsp's pad + CREPE's 1024-sample frames): the FFT peak of each
  frame, confidence 1 where the frame is not silent. ddsp loads audio with pydub, which needs ffmpeg
  (absent here), so its loader is replaced by soundfile for 16 kHz WAVs (the only input used).
  Everything else is ddsp's code.
"""

import argparse
import glob
import json
import traceback

import numpy as np


def _standin_compute_f0(audio, frame_rate, viterbi=True, padding='center'):
    """ddsp.spectral_ops.compute_f0's framing with an FFT-peak pitch instead of CREPE."""
    del viterbi
    from ddsp import spectral_ops

    sample_rate = spectral_ops.CREPE_SAMPLE_RATE
    frame_size = spectral_ops.CREPE_FRAME_SIZE
    hop_size = sample_rate // frame_rate
    padded = np.asarray(spectral_ops.pad(audio, frame_size, hop_size, padding))
    n_frames = 1 + (len(padded) - frame_size) // hop_size  # crepe.predict(center=False)
    f0_hz = np.zeros(n_frames, np.float32)
    confidence = np.zeros(n_frames, np.float32)
    window = np.hanning(frame_size)
    n_fft = 8192
    for i in range(n_frames):
        frame = padded[i * hop_size : i * hop_size + frame_size]
        if np.sqrt(np.mean(frame**2)) < 1e-3:
            continue
        spectrum = np.abs(np.fft.rfft(frame * window, n_fft))
        f0_hz[i] = np.argmax(spectrum) * sample_rate / n_fft
        confidence[i] = 1.0
    return f0_hz, confidence


def _soundfile_load_audio_as_array(audio_path, sample_rate):
    """prepare_tfrecord_lib._load_audio_as_array for WAVs already at `sample_rate`, without ffmpeg."""
    import soundfile

    audio, file_rate = soundfile.read(audio_path, dtype='float32', always_2d=True)
    if file_rate != sample_rate:
        raise ValueError(f'{audio_path}: sample rate {file_rate} Hz; the harness writes {sample_rate} Hz.')
    return audio.mean(axis=1).astype(np.float32)


def _read(pattern, example_secs, batch_size, n_batches, centered):
    """ddsp's TFRecordProvider over `pattern`: shapes, dtypes and ranges of a few batches."""
    from ddsp.training import data

    provider = data.TFRecordProvider(pattern, example_secs=example_secs, centered=centered)
    dataset = provider.get_batch(batch_size, shuffle=False, repeats=1)
    batches = []
    for batch in dataset.take(n_batches):
        batches.append(
            {
                k: {
                    'shape': [int(s) for s in v.shape],
                    'dtype': v.dtype.name,
                    'min': float(np.min(v)),
                    'max': float(np.max(v)),
                    'finite': bool(np.all(np.isfinite(v))),
                }
                for k, v in batch.items()
            }
        )
    return {'n_files': len(glob.glob(pattern)), 'batches': batches}


def _write(wavs, output_tfrecord_path, example_secs, hop_secs, num_shards, center):
    """ddsp's prepare_tfrecord on the WAVs (compute_f0 replaced by the stand-in)."""
    from ddsp import spectral_ops
    from ddsp.training.data_preparation import prepare_tfrecord_lib

    spectral_ops.compute_f0 = _standin_compute_f0  # prepare_tfrecord_lib calls spectral_ops.compute_f0
    prepare_tfrecord_lib._load_audio_as_array = _soundfile_load_audio_as_array
    prepare_tfrecord_lib.prepare_tfrecord(
        wavs,
        output_tfrecord_path,
        num_shards=num_shards,
        sample_rate=16000,
        frame_rate=250,
        example_secs=example_secs,
        hop_secs=hop_secs,
        chunk_secs=0,
        center=center,
        pipeline_options=['--runner=DirectRunner', '--direct_num_workers=1'],
    )
    return sorted(glob.glob(output_tfrecord_path + '*'))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--report', required=True)
    parser.add_argument('--read', action='append', default=[], help='NAME=PATTERN')
    parser.add_argument('--read_centered_names', nargs='*', default=[])
    parser.add_argument('--read_example_secs', type=int, default=4)  # ddsp needs an int
    parser.add_argument('--batch_size', type=int, default=2)
    parser.add_argument('--n_batches', type=int, default=2)
    parser.add_argument('--write_wavs', nargs='*', default=[])
    parser.add_argument('--write_output_tfrecord_path', default='')
    parser.add_argument('--write_example_secs', type=float, default=1)
    parser.add_argument('--write_hop_secs', type=float, default=1)
    parser.add_argument('--write_num_shards', type=int, default=2)
    parser.add_argument('--write_center', action='store_true')
    args = parser.parse_args()

    import ddsp

    report = {'ddsp_version': ddsp.__version__}
    if args.write_wavs:
        try:
            report['written'] = _write(
                args.write_wavs,
                args.write_output_tfrecord_path,
                args.write_example_secs,
                args.write_hop_secs,
                args.write_num_shards,
                args.write_center,
            )
        except Exception:
            report['write_error'] = traceback.format_exc()[-4000:]
    report['read'], report['read_error'] = {}, {}
    for spec in args.read:
        name, pattern = spec.split('=', 1)
        try:
            report['read'][name] = _read(
                pattern,
                args.read_example_secs,
                args.batch_size,
                args.n_batches,
                name in args.read_centered_names,
            )
        except Exception:
            report['read_error'][name] = traceback.format_exc()[-4000:]
    with open(args.report, 'w') as f:
        json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
