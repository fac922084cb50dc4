"""Benchmark CREPE f0 extraction: throughput (audio seconds per wall second) and peak memory.

    .venv/bin/python scripts/benchmark_crepe.py                     # full and tiny, both implementations
    .venv/bin/python scripts/benchmark_crepe.py --capacities=tiny --secs=30

Each (capacity, implementation) runs in its own subprocess so its peak RSS is its own. Throughput is
clarinet_ddsp.pitch.compute_f0 end to end (framing, normalisation, network, Viterbi) at 250 frames/s
with 'center' padding, after a warm-up call, on a clarinet-like test signal (odd harmonics, vibrato,
changing notes). The machine load (os.getloadavg) is printed before and after: other processes
sharing the cores slow every figure, so compare implementations within one run.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

# Runs from a checkout whether or not the package is installed.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLE_RATE = 16000
FRAME_RATE = 250


def _test_signal(secs: float) -> np.ndarray:
    """Notes D3..E6 of 0.5 s each, odd harmonics, 5 Hz vibrato of +-20 cents, a little noise."""
    rng = np.random.default_rng(0)
    n = int(secs * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    notes = rng.integers(50, 89, size=int(np.ceil(secs / 0.5)))
    midi = np.repeat(notes, int(0.5 * SAMPLE_RATE))[:n]
    f0 = 440.0 * 2 ** ((midi - 69) / 12) * 2 ** (20 / 1200 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k * (k * f0 < SAMPLE_RATE / 2) for k in range(1, 16, 2))
    x = 0.3 * x / np.max(np.abs(x)) + 1e-3 * rng.normal(size=n)
    return x.astype(np.float32)


def _worker(capacity: str, implementation: str, secs: float, batch_size) -> dict:
    from clarinet_ddsp import pitch

    audio = _test_signal(secs)
    t0 = time.perf_counter()
    model = pitch.CrepeModel(capacity, implementation=implementation, batch_size=batch_size)
    pitch.compute_f0(audio[:SAMPLE_RATE], FRAME_RATE, model=model)  # warm-up: trace and first batch
    load_secs = time.perf_counter() - t0

    t0 = time.perf_counter()
    f0_hz, confidence = pitch.compute_f0(audio, FRAME_RATE, viterbi=True, model=model)
    wall = time.perf_counter() - t0

    # The network alone on the same frames, for the split between network and decoding.
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, 512), 1024)[:: SAMPLE_RATE // FRAME_RATE]
    t0 = time.perf_counter()
    model.salience(frames)
    net_wall = time.perf_counter() - t0
    return {
        'capacity': capacity,
        'implementation': implementation,
        'audio_secs': secs,
        'n_frames': int(len(f0_hz)),
        'wall_secs': wall,
        'realtime_factor': secs / wall,
        'frames_per_sec': len(f0_hz) / wall,
        'network_realtime_factor': secs / net_wall,
        'load_and_warmup_secs': load_secs,
        'batch_size': model.batch_size,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        'median_confidence': float(np.median(confidence)),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--capacities', default='full,tiny')
    parser.add_argument('--implementations', default='spectral,keras')
    parser.add_argument(
        '--secs', type=float, default=None, help='audio seconds per run (default: 10 for full, 60 for tiny)'
    )
    parser.add_argument(
        '--batch_size',
        type=int,
        default=None,
        help="frames per network call (default: the package's per-model default)",
    )
    parser.add_argument('--worker', nargs=2, metavar=('CAPACITY', 'IMPLEMENTATION'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        secs = args.secs or (10.0 if args.worker[0] == 'full' else 60.0)
        print(json.dumps(_worker(args.worker[0], args.worker[1], secs, args.batch_size)))
        return 0

    print(f'cores: {os.cpu_count()}  load average before: {os.getloadavg()}', flush=True)
    results = []
    for capacity in args.capacities.split(','):
        for implementation in args.implementations.split(','):
            cmd = [sys.executable, os.path.abspath(__file__), '--worker', capacity, implementation]
            if args.batch_size:
                cmd += ['--batch_size', str(args.batch_size)]
            if args.secs:
                cmd += ['--secs', str(args.secs)]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
            r = json.loads(out.strip().splitlines()[-1])
            results.append(r)
            print(
                f'{capacity:5s} {implementation:9s} batch {r["batch_size"]:3d} '
                f'{r["audio_secs"]:4.0f} s audio: '
                f'{r["realtime_factor"]:6.2f} x realtime ({r["frames_per_sec"]:7.1f} frames/s; network alone '
                f'{r["network_realtime_factor"]:6.2f} x)  peak RSS {r["peak_rss_mb"]:6.0f} MB  '
                f'load+warm-up {r["load_and_warmup_secs"]:.1f} s  load avg {os.getloadavg()[0]:.2f}',
                flush=True,
            )
    by_key = {(r['capacity'], r['implementation']): r for r in results}
    for capacity in args.capacities.split(','):
        if (capacity, 'spectral') in by_key and (capacity, 'keras') in by_key:
            ratio = (
                by_key[capacity, 'spectral']['realtime_factor'] / by_key[capacity, 'keras']['realtime_factor']
            )
            print(f'{capacity}: spectral / keras throughput = {ratio:.2f}x (same run)')
    print(f'load average after: {os.getloadavg()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
