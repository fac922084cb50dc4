"""The first experiment of the DDSP clarinet experiments write-up (README): the DDSP additive synth as an
ordinary synthesizer.

1000 frames at hop 64 (4 s at 16 kHz) of a 440 Hz tone with 20 harmonics whose distribution falls
linearly from 1 to -1 (before exp_sigmoid) and whose amplitude decays linearly from 1 to -3 (before
exp_sigmoid). Writes synth_demo.wav and synth_demo_spectrogram.png into --output_dir.

    python scripts/synth_demo.py --output_dir /tmp/synth_demo
"""

import os
import sys

from absl import app, flags, logging

SAMPLE_RATE = 16000
N_FRAMES = 1000
HOP_SIZE = 64
N_SAMPLES = N_FRAMES * HOP_SIZE
N_HARMONICS = 20
F0_HZ = 440.0
WAV_NAME = 'synth_demo.wav'
PNG_NAME = 'synth_demo_spectrogram.png'

FLAGS = flags.FLAGS
flags.DEFINE_string(
    'output_dir', None, 'Folder for synth_demo.wav and synth_demo_spectrogram.png (created if missing).'
)


def synthesize():
    """The experiment's audio: float32 numpy [N_SAMPLES] at SAMPLE_RATE."""
    import numpy as np

    import clarinet_ddsp as ddsp

    # Amplitude [batch, n_frames, 1], decaying linearly (before exp_sigmoid).
    amps = np.linspace(1.0, -3.0, N_FRAMES)[np.newaxis, :, np.newaxis]
    # Harmonic distribution [batch, n_frames, n_harmonics], falling with frequency.
    harmonic_distribution = np.ones([N_FRAMES, 1]) * np.linspace(1.0, -1.0, N_HARMONICS)[np.newaxis, :]
    harmonic_distribution = harmonic_distribution[np.newaxis, :, :]
    # Fundamental frequency in Hz [batch, n_frames, 1].
    f0_hz = F0_HZ * np.ones([1, N_FRAMES, 1])

    additive_synth = ddsp.synths.Additive(
        n_samples=N_SAMPLES, sample_rate=SAMPLE_RATE, scale_fn=ddsp.core.exp_sigmoid
    )
    audio = additive_synth(amps, harmonic_distribution, f0_hz)
    return np.asarray(audio)[0].astype(np.float32)


def write_outputs(audio, output_dir: str) -> tuple[str, str]:
    """Writes the WAV (16-bit PCM) and the spectrogram PNG; returns their paths."""
    import soundfile
    from matplotlib.figure import Figure

    os.makedirs(output_dir, exist_ok=True)
    wav_path = os.path.join(output_dir, WAV_NAME)
    png_path = os.path.join(output_dir, PNG_NAME)
    soundfile.write(wav_path, audio, SAMPLE_RATE)

    fig = Figure(figsize=(8, 4))  # Agg renders it on savefig; pyplot's backend is left alone.
    ax = fig.subplots()
    _, _, _, im = ax.specgram(audio, Fs=SAMPLE_RATE, NFFT=1024, noverlap=256)
    fig.colorbar(im, ax=ax, label='dB')
    ax.set_xlabel('Time (s)')
    ax.set_ylabel('Frequency (Hz)')
    ax.set_title('DDSP additive synth: 440 Hz, 20 harmonics, decaying amplitude')
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    return wav_path, png_path


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if not FLAGS.output_dir:
        raise app.UsageError('--output_dir is required, e.g. --output_dir /tmp/synth_demo')
    logging.info(
        'Synthesizing %d samples (%d frames x hop %d) at %d Hz.', N_SAMPLES, N_FRAMES, HOP_SIZE, SAMPLE_RATE
    )
    audio = synthesize()
    peak = float(abs(audio).max())
    wav_path, png_path = write_outputs(audio, FLAGS.output_dir)
    logging.info('Peak %.3f. Wrote %s and %s.', peak, wav_path, png_path)
    print(
        f'synth_demo: wrote {wav_path} ({len(audio)} samples, {SAMPLE_RATE} Hz, peak '
        f'{peak:.3f}) and {png_path}'
    )


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app.run(main)
