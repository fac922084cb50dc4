"""Benchmark CREPE f0 extraction on every path that runs it, side by side on one machine.

    .venv/bin/python scripts/benchmark_crepe.py                        # full and tiny, every path
    .venv/bin/python scripts/benchmark_crepe.py --capacities=tiny --paths=default,eval

Paths, each in its own process (its peak RSS is its own), after a warm-up call (weights loaded, graph
traced), at 250 frames/s with Viterbi decoding, on a clarinet-like test signal (odd harmonics, vibrato,
changing notes):

  keras     the plain Keras 3 model (CrepeModel(implementation='keras')) through compute_f0;
  default   pitch.compute_f0 with the default model: the reference the other paths are held to;
  prepare   clarinet_ddsp_prepare_tfrecord's Beam pipeline (DirectRunner, one worker per core, as the
            CLI runs it) over a set of WAV files; its f0 stage's own timers, summed over the workers,
            give the workers' combined realtime factor (one worker's factor x workers);
  eval      the eval f0 metric (F0CrepeMetrics.update_state) on a batch of 32 generated 4 s examples;
  sample    sample mode's f0 plots (F0LdEvaluator's batched CREPE call) on 16 4 s examples;
  resynth   clarinet_ddsp_resynth's analysis (inference.analysis.compute_features: CREPE in 60 s pieces
            with 2 s of context either side, plus loudness).

Each line gives the realtime factor (audio seconds per wall second), CPU seconds per audio second (user +
system of the process; for prepare, its workers' f0 wall time) and the ratio to the default path of
the same capacity in this run; the issue's target is each path within 20% of the default. The CPU model
and the load average are printed too: other processes sharing the cores slow every figure, so compare
paths within one run.
"""

import argparse
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

# Runs from a checkout whether or not the package is installed.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SAMPLE_RATE = 16000
FRAME_RATE = 250
PATHS = ('keras', 'default', 'prepare', 'eval', 'sample', 'resynth')
EXAMPLE_SECS = 4


def _test_signal(secs: float, seed: int = 0) -> np.ndarray:
    """Notes D3..E6 of 0.5 s each, odd harmonics, 5 Hz vibrato of +-20 cents, a little noise."""
    rng = np.random.default_rng(seed)
    n = int(secs * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    notes = rng.integers(50, 89, size=int(np.ceil(secs / 0.5)))
    midi = np.repeat(notes, int(0.5 * SAMPLE_RATE))[:n]
    f0 = 440.0 * 2 ** ((midi - 69) / 12) * 2 ** (20 / 1200 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k * (k * f0 < SAMPLE_RATE / 2) for k in range(1, 16, 2))
    x = 0.3 * x / np.max(np.abs(x)) + 1e-3 * rng.normal(size=n)
    return x.astype(np.float32)


def _examples(n: int, seed: int = 1) -> tuple[np.ndarray, dict]:
    """n 4 s 'generated' examples and an input batch for them (f0 from the notes, all confident)."""
    audio = _test_signal(n * EXAMPLE_SECS, seed).reshape(n, -1)
    n_frames = EXAMPLE_SECS * FRAME_RATE
    batch = {'f0_hz': np.full((n, n_frames), 220.0, np.float32), 'f0_confidence': np.ones((n, n_frames))}
    return audio, batch


def _cpu_secs() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn) -> tuple[float, float]:
    cpu, start = _cpu_secs(), time.perf_counter()
    fn()
    return time.perf_counter() - start, _cpu_secs() - cpu


def _worker(capacity: str, path: str, secs: float, n_eval: int, n_sample: int) -> dict:
    from clarinet_ddsp import pitch

    out = {'capacity': capacity, 'path': path}
    warm = _test_signal(1.0, seed=9)
    if path in ('keras', 'default'):
        model = pitch.CrepeModel(capacity, implementation='keras') if path == 'keras' else None
        model = model or pitch.get_model(capacity)
        out['batch_size'] = model.batch_size
        pitch.compute_f0(warm, FRAME_RATE, model=model)
        audio = _test_signal(secs)
        wall, cpu = _timed(lambda: pitch.compute_f0(audio, FRAME_RATE, viterbi=True, model=model))
        out.update(audio_secs=secs, wall_secs=wall, cpu_secs=cpu)
    elif path == 'eval':
        from clarinet_ddsp.training import metrics

        m = metrics.F0CrepeMetrics(SAMPLE_RATE, FRAME_RATE, model_capacity=capacity)
        m.compute_f0_batch(warm[None], None)
        audio, batch = _examples(n_eval)
        wall, cpu = _timed(lambda: m.update_state(batch, audio))
        out.update(audio_secs=n_eval * EXAMPLE_SECS, wall_secs=wall, cpu_secs=cpu, examples=n_eval)
    elif path == 'sample':
        from clarinet_ddsp.training import evaluators

        ev = evaluators.F0LdEvaluator(
            SAMPLE_RATE, FRAME_RATE, crepe_model=capacity, sample_crepe_model=capacity
        )
        ev._crepe_f0_batch({}, warm[None])
        audio, batch = _examples(n_sample, seed=2)
        wall, cpu = _timed(lambda: ev._crepe_f0_batch(batch, audio))
        out.update(audio_secs=n_sample * EXAMPLE_SECS, wall_secs=wall, cpu_secs=cpu, examples=n_sample)
    elif path == 'resynth':
        from clarinet_ddsp.inference import analysis

        analysis.compute_features(warm, SAMPLE_RATE, SAMPLE_RATE // FRAME_RATE, crepe_model=capacity)
        audio = _test_signal(secs, seed=3)
        wall, cpu = _timed(
            lambda: analysis.compute_features(
                audio, SAMPLE_RATE, SAMPLE_RATE // FRAME_RATE, crepe_model=capacity
            )
        )
        out.update(audio_secs=secs, wall_secs=wall, cpu_secs=cpu)
    elif path == 'prepare':
        out.update(_prepare(capacity, secs))
    out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return out


def _prepare(capacity: str, secs: float) -> dict:
    """The CLI's pipeline on 4 WAV files; the f0 stage's timers (summed over workers) and the wall time."""
    import soundfile as sf

    from clarinet_ddsp.data_prep import pipeline

    with tempfile.TemporaryDirectory(prefix='bench_crepe_') as tmp:
        n_files = 2 * (os.cpu_count() or 1)
        for i in range(n_files):
            sf.write(os.path.join(tmp, f'{i}.wav'), _test_signal(secs / n_files, seed=10 + i), SAMPLE_RATE)
        options = pipeline.runner_options(['--runner=DirectRunner'])
        start = time.perf_counter()
        result = pipeline.prepare_tfrecord(
            sorted(glob.glob(os.path.join(tmp, '*.wav'))),
            os.path.join(tmp, 'out', 'train.tfrecord'),
            num_shards=2,
            crepe_model=capacity,
            pipeline_options=options,
        )
        wall = time.perf_counter() - start
    workers = os.cpu_count() or 1
    audio_secs = result.counters['f0-audio-ms'] / 1000
    f0_secs = result.counters['f0-wall-ms'] / 1000
    return {
        'audio_secs': audio_secs,
        # The workers run side by side: their combined f0 throughput is one worker's x workers.
        'wall_secs': f0_secs / workers,
        'cpu_secs': f0_secs,
        'pipeline_wall_secs': wall,
        'workers': workers,
        'tf_threads_per_worker': pipeline.local_worker_threads(options),
    }


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or 'unknown'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--capacities', default='full,tiny')
    parser.add_argument('--paths', default=','.join(PATHS), help=f'comma list of {PATHS}')
    parser.add_argument(
        '--secs',
        type=float,
        default=None,
        help='audio seconds for keras/default/prepare/resynth (default: 20 full, 60 tiny)',
    )
    parser.add_argument('--eval_examples', type=int, default=32)
    parser.add_argument('--sample_examples', type=int, default=16)
    parser.add_argument('--json', help='also write the results here')
    parser.add_argument('--worker', nargs=2, metavar=('CAPACITY', 'PATH'), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    def secs_for(capacity):
        return args.secs or (20.0 if capacity == 'full' else 60.0)

    if args.worker:
        capacity, path = args.worker
        result = _worker(capacity, path, secs_for(capacity), args.eval_examples, args.sample_examples)
        print(json.dumps(result))
        return 0

    paths = [p for p in args.paths.split(',') if p]
    for p in paths:
        if p not in PATHS:
            parser.error(f'--paths: {p!r} is not one of {PATHS}')
    print(f'CPU: {_cpu_model()}, {os.cpu_count()} cores; load average before: {os.getloadavg()}', flush=True)
    results = []
    for capacity in args.capacities.split(','):
        for path in paths:
            cmd = [sys.executable, os.path.abspath(__file__), '--worker', capacity, path]
            cmd += [
                '--eval_examples',
                str(args.eval_examples),
                '--sample_examples',
                str(args.sample_examples),
            ]
            if args.secs:
                cmd += ['--secs', str(args.secs)]
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                print(f'{capacity:5s} {path:8s} FAILED (exit {proc.returncode})', flush=True)
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r['load_average'] = os.getloadavg()[0]
            r['realtime_factor'] = r['audio_secs'] / r['wall_secs']
            r['cpu_per_audio_sec'] = r['cpu_secs'] / r['audio_secs']
            results.append(r)
            extra = ''
            if path == 'prepare':
                extra = (
                    f'  ({r["workers"]} workers x {r["tf_threads_per_worker"]} TF thread(s); whole pipeline '
                    f'{r["pipeline_wall_secs"]:.0f} s)'
                )
            print(
                f'{capacity:5s} {path:8s} {r["audio_secs"]:5.0f} s audio: '
                f'{r["realtime_factor"]:6.2f}x realtime, '
                f'{r["cpu_per_audio_sec"]:5.2f} CPU s / audio s, peak RSS {r["peak_rss_mb"]:5.0f} MB, '
                f'load {r["load_average"]:.1f}{extra}',
                flush=True,
            )
    print(f'\nload average after: {os.getloadavg()}')
    print(
        f'{"capacity":8s} {"path":8s} {"x realtime":>10s} {"/ default":>9s} {"CPU s/audio s":>13s}'
        '  within 20%'
    )
    for r in results:
        base = next((b for b in results if b['capacity'] == r['capacity'] and b['path'] == 'default'), None)
        ratio = r['realtime_factor'] / base['realtime_factor'] if base else float('nan')
        verdict = '-' if r['path'] in ('default', 'keras') or not base else ('yes' if ratio >= 0.8 else 'NO')
        print(
            f'{r["capacity"]:8s} {r["path"]:8s} {r["realtime_factor"]:10.2f} {ratio:9.2f} '
            f'{r["cpu_per_audio_sec"]:13.2f}  {verdict}'
        )
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'cpu': _cpu_model(), 'cores': os.cpu_count(), 'results': results}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
