"""Benchmark data preparation on the DirectRunner and on a local Dask cluster: wall time on the same files.

    .venv/bin/python scripts/benchmark_prepare.py                        # 12 notes of 4 s, tiny CREPE
    .venv/bin/python scripts/benchmark_prepare.py --highest=E6 --crepe_model=full --workers=2

The notes are the embedded clarinet notes (clarinet_ddsp.data_prep.notes). Each runner prepares them twice
into its own folder: the DirectRunner starts its worker processes anew each run; the Dask cluster
(a scheduler and --workers single-threaded worker processes on 127.0.0.1, preloaded with the pipeline as
the README advises) is started once, so its first run pays for TensorFlow's first calls in each worker and
its second shows a warm cluster. The CPU model and the load average are printed with the figures: other
processes sharing the cores slow every figure, so compare runners within one run.
"""

import argparse
import json
import os
import sys
import tempfile
import time

# Runs from a checkout whether or not the package is installed.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _cpu_model() -> str:
    with open('/proc/cpuinfo') as f:
        return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), '?')


def _timed(label: str, fn) -> float:
    start = time.monotonic()
    fn()
    secs = time.monotonic() - start
    print(f'{label}: {secs:.1f} s (load average {os.getloadavg()[0]:.1f})', flush=True)
    return secs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--lowest', default='D3')
    parser.add_argument('--highest', default='C#4', help='D3..C#4: 12 notes')
    parser.add_argument('--note_secs', type=float, default=4.0)
    parser.add_argument('--crepe_model', default='tiny', choices=('tiny', 'full'))
    parser.add_argument('--workers', type=int, default=2, help='Dask worker processes (one thread each)')
    parser.add_argument('--num_shards', type=int, default=4)
    parser.add_argument('--work_dir', default=None, help='default: a temporary folder, removed afterwards')
    args = parser.parse_args()
    os.environ['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, os.environ.get('PYTHONPATH')) if p)

    from distributed import LocalCluster

    from clarinet_ddsp.data_prep import notes, pipeline

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or tmp
        paths = notes.write_notes(
            os.path.join(work, 'notes'), args.lowest, args.highest, note_secs=args.note_secs
        )
        kwargs = dict(num_shards=args.num_shards, crepe_model=args.crepe_model)
        print(
            f'{len(paths)} notes of {args.note_secs:g} s, CREPE {args.crepe_model}, {os.cpu_count()} cores '
            f'({_cpu_model()}), load average {os.getloadavg()[0]:.1f}',
            flush=True,
        )
        figures = {}
        start = time.monotonic()
        with LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host='127.0.0.1',
            dashboard_address=None,
            preload=['clarinet_ddsp.data_prep.pipeline'],
        ) as cluster:
            figures['dask_cluster_start'] = time.monotonic() - start
            print(
                f'Dask cluster of {args.workers} workers up in {figures["dask_cluster_start"]:.1f} s',
                flush=True,
            )
            options = ['--runner=DaskRunner', f'--dask_client_address={cluster.scheduler_address}']
            for run in (1, 2):
                figures[f'dask_run{run}'] = _timed(
                    f'DaskRunner ({args.workers} workers) run {run}',
                    lambda run=run: pipeline.prepare_tfrecord(
                        paths,
                        os.path.join(work, f'dask{run}', 'train.tfrecord'),
                        pipeline_options=options,
                        **kwargs,
                    ),
                )
        for run in (1, 2):
            figures[f'direct_run{run}'] = _timed(
                f'DirectRunner ({os.cpu_count()} multi-processing workers) run {run}',
                lambda run=run: pipeline.prepare_tfrecord(
                    paths, os.path.join(work, f'direct{run}', 'train.tfrecord'), **kwargs
                ),
            )
        print(json.dumps({k: round(v, 1) for k, v in figures.items()}))


if __name__ == '__main__':
    main()
