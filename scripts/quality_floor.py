r"""How low the held-out notes' spectral distance can go: the floor of benchmark_quality.py's metric.

The multi-scale spectral distance (L1 of linear and log STFT magnitudes) is not zero for two renderings
of the same note whose noise differs: any model with a stochastic noise synth keeps a distance. Two
estimates of that floor, on the held-out files of benchmark_quality.py's split (every --every-th pitch,
every --file_stride-th file), each beside the odd-harmonic toy's distance (the target's unit):

  --method renoise  (the physical-model notes of `--source embedded` only) the same notes rendered again
                    with the same player (pressures, vibrato) and an independent draw of breath noise;
  --method phase    (any recording) the input's own STFT (2048 points, hop 256) with the bins within
                    3 of each harmonic kept exactly and every other bin's magnitude kept with a random
                    phase: a harmonic-plus-noise model that matched both perfectly, at best.

python scripts/quality_floor.py --work_dir runs/quality/embedded --method renoise
python scripts/quality_floor.py --work_dir runs/quality/fluidsynth --method phase
(WORK_DIR/source/*.wav as benchmark_quality.py built it; --input_audio GLOB for other files.)
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout without the package installed

SAMPLE_RATE = 16000
HOP = 64


def renoised_notes(paths: list[str]) -> list[np.ndarray]:
    """The physical-model notes of benchmark_quality's embedded source, rendered again with the same
    random draws for the vibrato and another for the breath noise (16-bit rounded, as the files are)."""
    from clarinet_ddsp.data_prep import clarinet_model, notes

    plan = notes.note_plan(dynamics=('pp', 'mf', 'ff'), all_dynamics=True)
    original = clarinet_model._envelopes
    other = np.random.default_rng(1001)

    class _NewNoise:
        """The generator the renderer draws from, but with its normal draws (the noise) from `other`."""

        def __init__(self, rng: np.random.Generator):
            self._rng = rng

        def standard_normal(self, shape):
            self._rng.standard_normal(shape)  # leave the original stream where the renderer expects it
            return other.standard_normal(shape)

        def uniform(self, *args, **kwargs):
            return self._rng.uniform(*args, **kwargs)

    def envelopes(n_notes, n_samples, rate, pressures, rng, **kwargs):
        return original(n_notes, n_samples, rate, pressures, _NewNoise(rng), **kwargs)

    specs = [clarinet_model.NoteSpec(float(notes.midi_to_hz_np(m)), d) for m, d in plan]
    clarinet_model._envelopes = envelopes
    try:
        audio = clarinet_model.render_notes(specs, secs=4.0, sample_rate=SAMPLE_RATE)
    finally:
        clarinet_model._envelopes = original
    out = []
    for path in paths:
        name = os.path.basename(path)
        if '__physmodel__' not in name:
            raise SystemExit(
                f'{path}: --method renoise needs the embedded source (*__physmodel__*.wav files).'
            )
        index = int(name.split('__')[0]) - 1
        out.append(np.round(np.clip(audio[index], -1, 1) * 32767) / 32767)
    return out


def phase_oracle(audio: np.ndarray, f0_hz: np.ndarray, confidence: np.ndarray, seed: int = 0) -> np.ndarray:
    """The input with its harmonic STFT bins kept and the phase of every other bin drawn at random."""
    import scipy.signal

    n_fft, hop = 2048, 256
    freqs, times, spec = scipy.signal.stft(audio, SAMPLE_RATE, nperseg=n_fft, noverlap=n_fft - hop)
    frames = np.arange(f0_hz.size)
    f0 = np.interp(times * SAMPLE_RATE / HOP, frames, f0_hz)
    conf = np.interp(times * SAMPLE_RATE / HOP, frames, confidence)
    keep = np.zeros(spec.shape, bool)
    for j in np.flatnonzero((conf >= 0.5) & (f0 > 0)):
        for k in range(1, int(SAMPLE_RATE / 2 / f0[j]) + 1):
            b = int(round(k * f0[j] / freqs[1]))
            keep[max(0, b - 3) : b + 4, j] = True
    phase = np.exp(2j * np.pi * np.random.default_rng(seed).random(spec.shape))
    _, out = scipy.signal.istft(
        np.where(keep, spec, np.abs(spec) * phase), SAMPLE_RATE, nperseg=n_fft, noverlap=n_fft - hop
    )
    return out[: audio.size]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work_dir', default='', help="benchmark_quality.py's WORK_DIR (its source/)")
    parser.add_argument('--input_audio', default='', help='glob of the notes instead of WORK_DIR/source')
    parser.add_argument('--method', choices=['renoise', 'phase'], required=True)
    parser.add_argument('--every', type=int, default=3, help='hold out one distinct pitch in this many')
    parser.add_argument('--file_stride', type=int, default=2, help='measure every Nth held-out file')
    parser.add_argument('--json', default='', help='also write the per-file figures here')
    args = parser.parse_args()
    pattern = args.input_audio or os.path.join(args.work_dir, 'source', '*.wav')
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise SystemExit(
            f'no files match {pattern}; give --work_dir of a benchmark_quality.py run or --input_audio.'
        )

    from clarinet_ddsp import inference
    from clarinet_ddsp.data_prep import audio_io, notes
    from clarinet_ddsp.inference import synthesis
    from clarinet_ddsp.training import note_quality as nq

    pitches = [notes.midi_from_filename(p) for p in paths]
    if None in pitches:
        raise SystemExit(
            f'{paths[pitches.index(None)]}: no note name in the file name (e.g. clarinet-fsharp4).'
        )
    _, test_idx = nq.split_by_pitch([int(p) for p in pitches if p is not None], every=args.every)
    test_paths = [paths[i] for i in test_idx][:: max(1, args.file_stride)]
    again = renoised_notes(test_paths) if args.method == 'renoise' else None
    rows = []
    for i, path in enumerate(test_paths):
        audio = audio_io.load_audio(path, SAMPLE_RATE).astype(np.float64)
        feats = inference.compute_features(audio.astype(np.float32), SAMPLE_RATE, HOP, crepe_model='tiny')
        if again is not None:
            floor = again[i][: audio.size]
        else:
            floor = phase_oracle(audio, feats['f0_hz'], feats['f0_confidence'])
            floor = synthesis.gate_silence(floor, feats['loudness_db'], HOP)  # as resynth gates its output
        rms = nq.frame_rms(feats['audio'], HOP)
        odd = nq.oscillator_baseline(feats['f0_hz'], rms, HOP, SAMPLE_RATE, 'odd')[: audio.size]
        row = {
            'file': os.path.basename(path),
            'floor': nq.spectral_distance(audio, floor),
            'odd': nq.spectral_distance(audio, odd),
        }
        row['ratio'] = row['floor'] / row['odd']
        rows.append(row)
        print(f'{row["file"]}: floor {row["floor"]:.3f}, odd toy {row["odd"]:.3f}, ratio {row["ratio"]:.3f}')
    median = {k: float(np.median([r[k] for r in rows])) for k in ('floor', 'odd', 'ratio')}
    print(
        f'{args.method}: median floor {median["floor"]:.3f}, odd toy {median["odd"]:.3f}, '
        f'floor / odd toy {median["ratio"]:.3f} over {len(rows)} held-out files'
    )
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'method': args.method, 'files': rows, 'median': median}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
