"""Training-step benchmark: clarinet_ddsp vs magenta/ddsp 3.7.0, side by side.

Trains models/solo_instrument.gin on one in-memory synthetic batch (4 s examples,
16 kHz, 250 frames/s) in three separate processes, one after the other:

  ddsp        magenta/ddsp 3.7.0 as shipped (ddsp_run's path: MirroredStrategy,
              Trainer.train_step on a distributed dataset iterator);
  ddsp+BFC    the same with TF_CPU_ALLOCATOR_USE_BFC=true (the tuned baseline);
  ours        clarinet_ddsp, with nothing set in its environment.

Each prints the median step time (median of --steps after --warmup steps), its ratio to
the step's arithmetic floor (the decoder's forward + backward FLOPs, 3 x 2 x its dense and GRU
kernels' multiply-adds per frame x frames, divided by this machine's float32 GEMM rate, measured
in the same run just before each batch size on the decoder's largest GEMM at that batch), the CPU
seconds (user + system) per step and their ratio to the same FLOPs at the GEMM's FLOPs per CPU
second (steadier than the wall-clock ratio on a loaded machine), the forward-synthesis realtime factor (audio
seconds per wall second, training=False), page faults per step, the process's peak
resident memory, its trainable parameter count and its first and last loss. On a
machine shared with other work, wall-clock ratios move with the load; the CPU-time
ratio ("cpu x ddsp") is the steadier figure. Diagnostic variants of ours (the Keras
GRU instead of ours, MirroredStrategy, the BFC allocator) run when named in --configs. The reference runs as
`TF_USE_LEGACY_KERAS=1 PYTHONPATH=tests/parity/ref_stubs <ref python>`, the ref
python from $CLARINET_DDSP_REF_PYTHON or .venv-ref/bin/python.

  .venv/bin/python scripts/benchmark_train.py --batch_sizes 4
  .venv/bin/python scripts/benchmark_train.py --batch_sizes 1,4,16 --json out.json
  .venv/bin/python scripts/benchmark_train.py --configs ours,ours/keras-gru,ours+mirrored
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_RATE = 16000
FRAME_RATE = 250
EXAMPLE_SECS = 4
N_SAMPLES = SAMPLE_RATE * EXAMPLE_SECS
N_FRAMES = FRAME_RATE * EXAMPLE_SECS
CONFIGS = ('ddsp', 'ddsp+BFC', 'ours')
# Diagnostic variants of ours, run only when named in --configs.
EXTRA_CONFIGS = ('ours/keras-gru', 'ours/fast-gru', 'ours+mirrored', 'ours+BFC', 'ours/fast-gru+BFC')
_VARIANTS = {
    'ours/keras-gru': 'keras-gru',
    'ours/fast-gru': 'fast-gru',
    'ours/fast-gru+BFC': 'fast-gru',
    'ours+mirrored': 'mirrored',
}


# ------------------------------------------------------------------ the batch
def make_batch(batch_size: int, path: str) -> None:
    """Writes a deterministic batch of clarinet-like tones to an .npz file."""
    import numpy as np

    rng = np.random.default_rng(1234)
    t_frames = np.arange(N_FRAMES) / FRAME_RATE
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    audio, f0_hz, loudness_db = [], [], []
    for _ in range(batch_size):
        base = 147.0 * 2 ** (rng.integers(0, 36) / 12)  # D3 .. C6
        f0 = base * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t_frames))
        envelope = np.minimum(1, t_frames / 0.1) * np.minimum(1, (4 - t_frames) / 0.3)
        amp = 0.3 * np.clip(envelope, 0, 1)
        f0_s = np.interp(t, t_frames, f0)
        amp_s = np.interp(t, t_frames, amp)
        phase = 2 * np.pi * np.cumsum(f0_s) / SAMPLE_RATE
        x = sum(amp_s / k * np.sin(k * phase) for k in range(1, 20, 2) if k * base < SAMPLE_RATE / 2)
        x = x + 0.003 * rng.normal(size=N_SAMPLES)
        frames = x[: N_FRAMES * 64].reshape(N_FRAMES, 64)
        ld = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
        audio.append(x)
        f0_hz.append(f0)
        loudness_db.append(np.maximum(ld, -120.0))
    batch = {
        'audio': np.float32(audio),
        'f0_hz': np.float32(f0_hz),
        'f0_confidence': np.ones((batch_size, N_FRAMES), np.float32),
        'loudness_db': np.float32(loudness_db),
    }
    np.savez(path, **batch)


def _load_batch(path: str) -> dict:
    import numpy as np

    with np.load(path) as data:
        return {k: data[k] for k in data.files}


# ------------------------------------------------------------------- workers
def _usage():
    """(page faults, user CPU s, system CPU s) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_minflt + usage.ru_majflt, usage.ru_utime, usage.ru_stime)


def _time_steps(step, warmup: int, steps: int):
    losses = []
    for _ in range(warmup):
        losses.append(step())
    times = []
    before = _usage()
    for _ in range(steps):
        start = time.perf_counter()
        losses.append(step())
        times.append(time.perf_counter() - start)
    faults, user, system = [(b - a) / steps for a, b in zip(before, _usage())]
    return times, dict(faults=faults, user=user, system=system), losses


def _time_forward(forward, n: int) -> list[float]:
    forward()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        forward()
        times.append(time.perf_counter() - start)
    return times


def _measure(trainer, model, batch, args) -> dict:
    """Step and forward timings; ddsp's Trainer and ours share this API, so both sides run this code.

    The data path is ddsp_run's: an iterator over a repeated (distributed) dataset.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    dataset_iter = iter(trainer.distribute_dataset(dataset))
    trainer.build(next(dataset_iter))

    def step():
        losses = trainer.train_step(dataset_iter)
        return float(losses['total_loss'])

    times, usage, losses = _time_steps(step, args.warmup, args.steps)
    forward = tf.function(lambda b: model(b, training=False))
    fwd_times = _time_forward(lambda: forward(batch)['audio_synth'].numpy(), args.steps)
    n_params = int(sum(v.shape.num_elements() for v in model.trainable_variables))
    # Multiply-adds per frame of the decoder's GEMMs (dense kernels, GRU input and recurrent kernels).
    decoder_macs = int(
        sum(v.shape.num_elements() for v in model.decoder.trainable_variables if v.shape.rank == 2)
    )
    return dict(
        times=times, losses=losses, fwd_times=fwd_times, n_params=n_params, decoder_macs=decoder_macs, **usage
    )


def _worker_gemm(args) -> dict:
    """This machine's float32 GEMM rate on the decoder's largest GEMM at this batch size,
    [batch x frames, 1024] @ [1024, 1536] (the GRU's input projection): FLOPs per wall second and
    per CPU second (user + system), medians of 3 x --steps runs after a warm-up."""
    import tensorflow as tf

    m, k, n = args.batch_size * N_FRAMES, 1024, 1536
    a = tf.random.stateless_normal([m, k], seed=[1, 2])
    b = tf.random.stateless_normal([k, n], seed=[3, 4])
    gemm = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1]))
    gemm().numpy()
    walls, cpus = [], []
    for _ in range(3 * args.steps):
        before, start = _usage(), time.perf_counter()
        gemm().numpy()
        walls.append(time.perf_counter() - start)
        cpus.append(sum(_usage()[1:]) - sum(before[1:]))
    flops = 2.0 * m * k * n
    return dict(gemm_flops=flops / statistics.median(walls), gemm_cpu_flops=flops / statistics.median(cpus))


def _worker_ref(args) -> dict:
    """magenta/ddsp 3.7.0 as ddsp_run trains it."""
    import ddsp.training
    import gin
    import tensorflow as tf

    gin_path = os.path.join(os.path.dirname(ddsp.training.__file__), 'gin')
    gin.add_config_file_search_path(gin_path)
    with gin.unlock_config():
        gin.parse_config_file('optimization/base.gin')
        gin.parse_config_files_and_bindings(['models/solo_instrument.gin'], [f'batch_size={args.batch_size}'])
    batch = {k: tf.constant(v) for k, v in _load_batch(args.batch).items()}
    strategy = ddsp.training.train_util.get_strategy()
    with strategy.scope():
        model = ddsp.training.models.get_model()
        trainer = ddsp.training.trainers.get_trainer_class()(model, strategy)
    return _measure(trainer, model, batch, args)


def _worker_ours(args) -> dict:
    """clarinet_ddsp, through its own Trainer."""
    sys.path.insert(0, REPO)
    import tensorflow as tf

    from clarinet_ddsp.training import gin_config, models, trainers

    gin_config.parse_gin('', ['models/solo_instrument.gin'], [f'batch_size={args.batch_size}'])
    if args.variant in ('keras-gru', 'fast-gru'):
        from clarinet_ddsp.training import nn

        nn.FAST_RNN_DEFAULT = args.variant == 'fast-gru'
    batch = {k: tf.constant(v) for k, v in _load_batch(args.batch).items()}
    strategy = None
    if args.variant == 'mirrored':
        strategy = tf.distribute.MirroredStrategy()
    with (strategy or tf.distribute.get_strategy()).scope():
        model = models.get_model()
        trainer = trainers.get_trainer_class()(model, strategy)
    return _measure(trainer, model, batch, args)


def run_worker(args) -> None:
    result = {'ref': _worker_ref, 'ours': _worker_ours, 'gemm': _worker_gemm}[args.worker](args)
    result['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(args.out, 'w') as f:
        json.dump(result, f)


# -------------------------------------------------------------------- parent
def _ref_python() -> str:
    python = os.environ.get('CLARINET_DDSP_REF_PYTHON', os.path.join(REPO, '.venv-ref', 'bin', 'python'))
    if not os.path.exists(python):
        raise ValueError(
            f'reference python {python!r} does not exist; build it with '
            "`make refenv` or set CLARINET_DDSP_REF_PYTHON to ddsp 3.7.0's python."
        )
    return python


def _ours_python() -> str:
    return os.environ.get('CLARINET_DDSP_PYTHON', sys.executable)


def _run_config(config: str, batch_path: str, batch_size: int, args, tmp: str) -> dict:
    env = dict(os.environ)
    env.pop('TF_CPU_ALLOCATOR_USE_BFC', None)
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    if config == 'gemm':
        python, worker = _ours_python(), 'gemm'
    elif config.startswith('ddsp'):
        python, worker = _ref_python(), 'ref'
        env['TF_USE_LEGACY_KERAS'] = '1'
        env['PYTHONPATH'] = os.path.join(REPO, 'tests', 'parity', 'ref_stubs')
        if config == 'ddsp+BFC':
            env['TF_CPU_ALLOCATOR_USE_BFC'] = 'true'
    else:
        python, worker = _ours_python(), 'ours'
        env.pop('TF_USE_LEGACY_KERAS', None)
        env.pop('PYTHONPATH', None)
        if config.endswith('+BFC'):
            env['TF_CPU_ALLOCATOR_USE_BFC'] = 'true'
    safe = ''.join(c if c.isalnum() else '_' for c in config)
    out = os.path.join(tmp, f'{safe}-{batch_size}.json')
    cmd = [
        python,
        os.path.abspath(__file__),
        '--worker',
        worker,
        '--batch',
        batch_path,
        '--batch_size',
        str(batch_size),
        '--out',
        out,
        '--variant',
        _VARIANTS.get(config, ''),
        '--warmup',
        str(args.warmup),
        '--steps',
        str(args.steps),
    ]
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        return {'error': f'exit {proc.returncode}'}
    with open(out) as f:
        result = json.load(f)
    result['wall_secs'] = time.time() - start
    return result


def _floor_secs(result: dict, gemm: dict, batch_size: int, key: str = 'gemm_flops') -> float | None:
    """The step's arithmetic floor: the decoder's forward + backward FLOPs over the GEMM rate (per wall
    second, or with key='gemm_cpu_flops' per CPU second: the CPU-seconds floor)."""
    if 'decoder_macs' not in result or key not in gemm:
        return None
    return 3 * 2 * result['decoder_macs'] * batch_size * N_FRAMES / gemm[key]


def _summarise(results: dict[str, dict], batch_size: int, gemm: dict) -> list[str]:
    rate = f'FAILED ({gemm.get("error")})'
    if 'gemm_flops' in gemm:
        rate = f'{gemm["gemm_flops"] / 1e9:.1f} GFLOP/s, {gemm["gemm_cpu_flops"] / 1e9:.1f} GFLOP per CPU s'
    lines = [
        f'batch {batch_size}: float32 GEMM rate {rate} (load {gemm.get("load", "?")})',
        f'  {"config":17s} {"step s":>7s} {"floor s":>7s} {"x floor":>7s} {"x ddsp":>6s} {"x BFC":>6s} '
        f'{"cpu s":>6s} {"cpu x floor":>11s} {"cpu x ddsp":>10s} '
        f'{"fwd RTF":>8s} {"faults/step":>12s} {"user+sys s":>11s} {"peak RSS MB":>12s} '
        f'{"params":>10s}  loss first -> last',
    ]
    step = {k: statistics.median(r['times']) for k, r in results.items() if 'times' in r}
    cpu = {k: r['user'] + r['system'] for k, r in results.items() if 'times' in r}
    for config, r in results.items():
        if 'error' in r:
            lines.append(f'  {config:17s} FAILED ({r["error"]})')
            continue
        fwd = statistics.median(r['fwd_times'])

        def ratio(base, d=step, config=config):
            return f'{d[base] / d[config]:6.2f}' if base in d else f'{"-":>6s}'

        floor = _floor_secs(r, gemm, batch_size)
        floor_cols = f'{floor:7.3f} {step[config] / floor:7.2f}' if floor else f'{"-":>7s} {"-":>7s}'
        cpu_floor = _floor_secs(r, gemm, batch_size, 'gemm_cpu_flops')
        cpu_floor_col = f'{cpu[config] / cpu_floor:11.2f}' if cpu_floor else f'{"-":>11s}'
        lines.append(
            f'  {config:17s} {step[config]:7.3f} {floor_cols} {ratio("ddsp")} '
            f'{ratio("ddsp+BFC")} {cpu[config]:6.2f} {cpu_floor_col} {ratio("ddsp", cpu):>10s} '
            f'{batch_size * EXAMPLE_SECS / fwd:8.2f} '
            f'{r["faults"]:12.0f} {r["user"]:5.1f}+{r["system"]:<5.1f} '
            f'{r["peak_rss_mb"]:12.0f} {r["n_params"]:10d}  '
            f'{r["losses"][0]:.3f} -> {r["losses"][-1]:.3f}'
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch_sizes', default='4', help='comma list, e.g. 1,4,16')
    parser.add_argument('--configs', default=','.join(CONFIGS), help=f'comma list of {CONFIGS}')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--json', help='also write all results here')
    # Worker-process arguments.
    parser.add_argument('--worker', choices=['ref', 'ours', 'gemm'])
    parser.add_argument('--batch')
    parser.add_argument('--batch_size', type=int)
    parser.add_argument('--out')
    parser.add_argument('--variant', default='')
    args = parser.parse_args()
    if args.worker:
        run_worker(args)
        return
    configs = [c for c in args.configs.split(',') if c]
    for c in configs:
        if c not in CONFIGS + EXTRA_CONFIGS:
            raise ValueError(f'--configs: {c!r} is not one of {CONFIGS + EXTRA_CONFIGS}.')
    load = os.getloadavg()
    print(
        f'cores: {os.cpu_count()}, load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}', flush=True
    )
    report, everything = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch_size in [int(b) for b in args.batch_sizes.split(',')]:
            batch_path = os.path.join(tmp, f'batch{batch_size}.npz')
            make_batch(batch_size, batch_path)
            gemm = _run_config('gemm', batch_path, batch_size, args, tmp)
            gemm['load'] = f'{os.getloadavg()[0]:.2f}'
            results = {}
            for config in configs:
                print(f'batch {batch_size}: running {config} ...', flush=True)
                results[config] = _run_config(config, batch_path, batch_size, args, tmp)
            everything[batch_size] = {**results, 'gemm': gemm}
            report += _summarise(results, batch_size, gemm)
            print('\n'.join(_summarise(results, batch_size, gemm)), flush=True)
    load = os.getloadavg()
    print(f'load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}')
    print('\n'.join(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(everything, f, indent=1)


if __name__ == '__main__':
    main()
