"""The Beam pipeline on a dask.distributed cluster through Beam's DaskRunner, against the DirectRunner.

The cluster is what a user would start by hand: `dask scheduler` and `dask worker --nworkers 2` as separate
processes on the loopback address; the pipeline reaches it only through --dask_client_address.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest
from distributed import Client

from clarinet_ddsp.data_prep import audio_io, pipeline
from tests.data_prep import audio_files
from tests.data_prep.test_pipeline import read_examples, write_clarinet_notes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N_WORKERS = 2
# As the README says: each worker imports the pipeline (TensorFlow) when it starts, not in its first task.
WORKER_ARGS = ('--preload', 'clarinet_ddsp.data_prep.pipeline')
# Measured on the shared 2-core machine at a load of 13-25: the cluster is up in 10 s (50-65 s with the
# preload), a run of the test's notes takes 25-66 s on preloaded workers (85 s without). Limits: >= 4x.
STARTUP_TIMEOUT_S = 300
RUN_TIMEOUT_S = 600


def _kill_group(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    """SIGTERM to the process's group (it and the worker processes its nannies spawned), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group, the leader included
    proc.wait(timeout_s)


@contextlib.contextmanager
def dask_cluster(work_dir: str, n_workers: int = N_WORKERS, worker_args: tuple[str, ...] = ()):
    """A scheduler and `n_workers` single-threaded worker processes on 127.0.0.1; yields
    (address, psutil.Process of every cluster process). Everything is killed on exit, also when the body
    fails."""
    scheduler_file = os.path.join(work_dir, 'scheduler.json')
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([ROOT] + [os.environ.get('PYTHONPATH', '')]).rstrip(':')
    )
    common = dict(env=env, cwd=work_dir, start_new_session=True, stdin=subprocess.DEVNULL)
    logs = [open(os.path.join(work_dir, f'{name}.log'), 'w') for name in ('scheduler', 'workers')]
    procs = []
    try:
        # --idle-timeout and --death-timeout: a cluster orphaned by a killed test process ends by itself.
        procs.append(
            subprocess.Popen(
                [sys.executable, '-m', 'dask', 'scheduler', '--host', '127.0.0.1', '--port', '0']
                + ['--no-dashboard', '--scheduler-file', scheduler_file, '--idle-timeout', '3600'],
                stdout=logs[0],
                stderr=subprocess.STDOUT,
                **common,
            )
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not os.path.exists(scheduler_file):
            assert procs[0].poll() is None, open(logs[0].name).read()
            assert time.monotonic() < deadline, (
                'the dask scheduler did not start: ' + open(logs[0].name).read()
            )
            time.sleep(0.2)
        procs.append(
            subprocess.Popen(
                [sys.executable, '-m', 'dask', 'worker', '--scheduler-file', scheduler_file]
                + ['--nworkers', str(n_workers), '--nthreads', '1', '--host', '127.0.0.1', '--no-dashboard']
                + ['--memory-limit', '0', '--death-timeout', '600', '--local-directory', work_dir]
                + list(worker_args),
                stdout=logs[1],
                stderr=subprocess.STDOUT,
                **common,
            )
        )
        with Client(scheduler_file=scheduler_file, timeout=STARTUP_TIMEOUT_S) as client:
            client.wait_for_workers(n_workers, timeout=max(deadline - time.monotonic(), 1))
            address = client.scheduler.address
            worker_pids = set(client.run(os.getpid).values())
        with open(scheduler_file) as f:
            assert json.load(f)['address'] == address
        assert len(worker_pids) == n_workers and os.getpid() not in worker_pids
        processes = [psutil.Process(p.pid) for p in procs] + [c for p in procs for c in _children(p.pid)]
        assert worker_pids <= {p.pid for p in processes}
        yield address, processes
    finally:
        for proc in reversed(procs):
            _kill_group(proc)
        for log in logs:
            log.close()


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(processes: list[psutil.Process], wait_s: float = 60) -> list[psutil.Process]:
    """Those still running after up to wait_s (a killed TensorFlow process takes a moment to go)."""
    _, alive = psutil.wait_procs([p for p in processes if p.is_running()], timeout=wait_s)
    return [p for p in alive if _running(p)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def _watchdog(processes: list[psutil.Process], timeout_s: float):
    """Kills the cluster if the body runs past timeout_s, so a hung run fails instead of hanging CI."""
    fired = []

    def kill():
        fired.append(True)
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        assert not fired, f'the Dask run took more than {timeout_s} s; the cluster was killed'


def _by_audio(examples):
    """{audio bytes: example}: each window's audio is cut from the files verbatim, so it names the window."""
    out = {ex['audio'].tobytes(): ex for ex in examples}
    assert len(out) == len(examples), 'two examples with the same audio'
    return out


@pytest.mark.slow
def test_dask_runner_on_a_two_worker_cluster_writes_the_direct_runners_examples(tmp_path):
    sources = write_clarinet_notes(
        str(tmp_path / 'notes'), [(50, 'pp'), (62, 'mf'), (69, 'mf'), (88, 'ff')], secs=2.0
    )
    kwargs = dict(num_shards=2, example_secs=1, hop_secs=1, crepe_model='tiny')
    cluster_dir = tmp_path / 'cluster'
    cluster_dir.mkdir()
    cluster = []
    start = time.monotonic()
    try:
        with dask_cluster(str(cluster_dir), worker_args=WORKER_ARGS) as (address, cluster):
            cluster_secs = time.monotonic() - start
            dask_options = ['--runner=DaskRunner', f'--dask_client_address={address}']
            with _watchdog(cluster, RUN_TIMEOUT_S):
                start = time.monotonic()
                dask = pipeline.prepare_tfrecord(
                    sorted(sources),
                    str(tmp_path / 'dask' / 'train.tfrecord'),
                    pipeline_options=dask_options,
                    **kwargs,
                )
                dask_secs = time.monotonic() - start
                with Client(address, timeout=STARTUP_TIMEOUT_S) as client:
                    crepe_loaded = client.run(
                        lambda: bool(getattr(sys.modules.get('clarinet_ddsp.pitch.model'), '_CACHE', None))
                    )
                assert any(crepe_loaded.values()), 'no worker process ran CREPE'

                # Bad input is refused up front, naming the file; nothing reaches the cluster's output.
                bad = audio_files.write_bad_files(str(tmp_path / 'bad'))['text']
                with pytest.raises(audio_io.BadAudioFilesError, match='not audio') as info:
                    pipeline.prepare_tfrecord(
                        sorted(sources) + [bad],
                        str(tmp_path / 'bad_out' / 'train.tfrecord'),
                        pipeline_options=dask_options,
                        **kwargs,
                    )
                assert bad in str(info.value) and '--skip_bad_files' in str(info.value)
                assert not (tmp_path / 'bad_out').exists() or not os.listdir(tmp_path / 'bad_out')
    finally:
        leaked = _alive(cluster)
    assert len(cluster) >= 2 + N_WORKERS and not leaked, f'cluster processes left running: {leaked}'

    start = time.monotonic()
    direct = pipeline.prepare_tfrecord(sorted(sources), str(tmp_path / 'direct' / 'train.tfrecord'), **kwargs)
    direct_secs = time.monotonic() - start
    print(
        f'\nSame {len(sources)} files: DaskRunner ({N_WORKERS} worker processes, '
        f'{sum(crepe_loaded.values())} ran CREPE; cluster up in {cluster_secs:.1f} s) {dask_secs:.1f} s, '
        f'DirectRunner (multi-processing, {os.cpu_count()} cores) {direct_secs:.1f} s; '
        f'load average {os.getloadavg()[0]:.1f}'
    )

    for result, name in ((dask, 'dask'), (direct, 'direct')):
        assert [os.path.basename(s) for s in result.shards] == [
            f'train.tfrecord-0000{i}-of-00002' for i in range(2)
        ], name
        assert sorted(os.listdir(tmp_path / name)) == [os.path.basename(s) for s in result.shards]
    on_dask = _by_audio(read_examples(str(tmp_path / 'dask' / 'train.tfrecord*')))
    on_direct = _by_audio(read_examples(str(tmp_path / 'direct' / 'train.tfrecord*')))
    assert len(on_direct) == 2 * len(sources)  # 2 s notes, 1 s windows, 1 s hop
    assert sorted(on_dask) == sorted(on_direct)
    for key, ex in on_direct.items():
        other = on_dask[key]
        np.testing.assert_array_equal(other['audio_16k'], ex['audio_16k'])
        # Same network, same chunks; only the processes differ.
        np.testing.assert_allclose(other['f0_hz'], ex['f0_hz'], rtol=1e-4)
        np.testing.assert_allclose(other['f0_confidence'], ex['f0_confidence'], atol=1e-4)
        np.testing.assert_allclose(other['loudness_db'], ex['loudness_db'], atol=1e-3)


def test_runner_short_names_map_to_beams_classes_and_unknown_ones_are_named():
    dask = pipeline.runner_options(['--runner=DaskRunner', '--dask_client_address=127.0.0.1:8786'])
    assert dask == [
        '--runner=apache_beam.runners.dask.dask_runner.DaskRunner',
        '--dask_client_address=127.0.0.1:8786',
        '--dask_partition_size=1',  # one file per task: Beam's default puts 128 in one
    ]
    assert pipeline.runner_options(['--runner=dask']) == dask[:1] + dask[2:]
    assert pipeline.runner_options([dask[0]]) == dask[:1] + dask[2:]
    assert pipeline.runner_options([dask[0], '--dask_npartitions=8']) == [dask[0], '--dask_npartitions=8']
    assert pipeline.runner_options(['--runner=FlinkRunner']) == ['--runner=FlinkRunner']
    with pytest.raises(ValueError, match="--runner='SparkRunnr' is not a Beam runner") as info:
        pipeline.runner_options(['--runner=SparkRunnr'])
    for known in ('DaskRunner', 'DataflowRunner', 'DirectRunner', 'FlinkRunner', 'SparkRunner'):
        assert known in str(info.value)


def test_unknown_runner_fails_before_anything_is_written(tmp_path):
    good = audio_files.write_tone(str(tmp_path / 'good.wav'), 440, 1.5)
    with pytest.raises(ValueError, match='--runner=.Dusk. is not a Beam runner'):
        pipeline.prepare_tfrecord(
            [good], str(tmp_path / 'out' / 'train.tfrecord'), pipeline_options=['--runner=Dusk']
        )
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize(
    'kwargs, message',
    [
        (
            dict(num_shards=2, eval_split_fraction=0.1),
            'prepare_tfrecord: eval_split_fraction=0.1 .* DaskRunner',
        ),
        (
            dict(num_shards=None),
            'prepare_tfrecord: num_shards=None must be a number of shards on the DaskRunner',
        ),
    ],
)
def test_what_the_dask_runner_cannot_do_is_refused_up_front(tmp_path, kwargs, message):
    good = audio_files.write_tone(str(tmp_path / 'good.wav'), 440, 1.5)
    with pytest.raises(ValueError, match=message):
        pipeline.prepare_tfrecord(
            [good],
            str(tmp_path / 'out' / 'train.tfrecord'),
            pipeline_options=['--runner=DaskRunner', '--dask_client_address=127.0.0.1:1'],
            **kwargs,
        )
    assert not (tmp_path / 'out').exists()


def test_write_shards_writes_every_shard_once_with_each_record_once(tmp_path):
    import apache_beam as beam
    import tensorflow as tf

    def example(i):
        return tf.train.Example(
            features=tf.train.Features(
                feature={'i': tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}
            )
        )

    prefix = str(tmp_path / 'ds.tfrecord')
    with pipeline._make_pipeline(audio_files.IN_MEMORY) as p:
        _ = p | beam.Create([example(i) for i in range(5)]) | pipeline.WriteShards(prefix, 8)
    names = sorted(os.listdir(tmp_path))
    assert names == [f'ds.tfrecord-{i:05d}-of-00008' for i in range(8)]  # 5 records: some shards empty
    values = [
        tf.train.Example.FromString(r.numpy()).features.feature['i'].int64_list.value[0]
        for r in tf.data.TFRecordDataset([str(tmp_path / n) for n in names])
    ]
    assert sorted(values) == list(range(5))
