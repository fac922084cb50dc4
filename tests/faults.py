"""Faults that long runs meet, tried against the real CLIs in subprocesses.

Each scenario takes a scratch folder and returns rows (fault, expected, observed, passed):
tests/test_faults.py asserts them, scripts/chaos.py prints them as a table. Signals are sent with
os.kill; every check reads the files the programs left (the newest checkpoint is loaded tensor by
tensor, shards are read record by record).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Any one CLI run: >= 3x the slowest seen on a loaded 2-core machine (TF import, tracing, Beam workers).
TIMEOUT = 900
_STEP_KEY = 'optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE'


@dataclasses.dataclass
class Row:
    """One fault tried: what should happen, what did, and the output to look at when they differ."""

    fault: str
    expected: str
    observed: str
    passed: bool
    log: str = ''

    def report(self) -> str:
        status = 'pass' if self.passed else 'FAIL'
        text = f'[{status}] {self.fault}\n  expected: {self.expected}\n  observed: {self.observed}'
        return text + (f'\n  log tail:\n{self.log}' if self.log and not self.passed else '')


def env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
        TF_CPP_MIN_LOG_LEVEL='2',
        CUDA_VISIBLE_DEVICES='',
    )


class Cli:
    """A CLI started in the background; stdout and stderr go to a file that can be waited on."""

    def __init__(self, module: str, args, log_path, python_code: str | None = None):
        self.log_path = pathlib.Path(log_path)
        self._file = open(self.log_path, 'w')
        command = [sys.executable, '-m', f'clarinet_ddsp.cli.{module}', '--alsologtostderr', *map(str, args)]
        if python_code is not None:  # The same CLI behind a fault injected at a write call.
            command = [sys.executable, '-c', python_code, *command[3:]]
        self.proc = subprocess.Popen(
            command, env=env(), stdout=self._file, stderr=subprocess.STDOUT, cwd=REPO
        )
        self.started = time.time()
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log_path.read_text(errors='replace')

    def wait_for(self, pattern: str, timeout: float = TIMEOUT, accept: Callable | None = None):
        """The first match of pattern (that accept(match) approves) in the output, None if it exits first."""
        deadline = time.time() + timeout
        regex = re.compile(pattern)
        while time.time() < deadline:
            found = [m for m in regex.finditer(self.text()) if accept is None or accept(m)]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                found = [m for m in regex.finditer(self.text()) if accept is None or accept(m)]
                return found[0] if found else None
            time.sleep(0.02)
        return None

    def wait(self, timeout: float = TIMEOUT) -> int | None:
        """The exit code (negative: killed by that signal); None if it had to be killed after timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.returncode = None
        self._file.close()
        return self.returncode

    def line(self, prefix: str) -> str:
        """The last output line starting with prefix (the CLIs' one-line outcome), or ''."""
        lines = [line for line in self.text().splitlines() if line.startswith(prefix)]
        return lines[-1] if lines else ''

    def tail(self, n: int = 40) -> str:
        return '\n'.join(self.text().splitlines()[-n:])

    def secs(self) -> float:
        return time.time() - self.started


def run_cli(module: str, args, log_path, timeout: float = TIMEOUT, python_code: str | None = None) -> Cli:
    cli = Cli(module, args, log_path, python_code)
    cli.wait(timeout)
    return cli


# ------------------------------------------------------------------------------------- training
def tiny_data(work: pathlib.Path, name: str = 'data', **kwargs) -> str:
    from tests.training import tiny

    return tiny.write_tfrecords(str(work / name / 'train.tfrecord'), n_examples=4, n_shards=2, **kwargs)


def train_flags(save_dir, pattern: str, *params: str) -> list[str]:
    from tests.training import tiny

    return [
        f'--save_dir={save_dir}',
        '--gin_file=models/solo_instrument.gin',
        '--gin_file=datasets/tfrecord.gin',
        f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
        *[f'--gin_param={p}' for p in tiny.SHRINK_PARAMS],
        *[f'--gin_param={p}' for p in params],
    ]


def eval_flags(save_dir, pattern: str, *params: str) -> list[str]:
    from tests.training import tiny

    return [
        f'--save_dir={save_dir}',
        '--gin_file=datasets/tfrecord.gin',
        f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
        *[f'--gin_param={p}' for p in tiny.SHRINK_PARAMS],
        *[f'--gin_param={p}' for p in params],
    ]


@dataclasses.dataclass
class Newest:
    """The newest complete checkpoint of a run, read back."""

    prefix: str | None
    step: int | None
    error: str = ''
    missing: bool = False  # no complete checkpoint, or it was deleted before it could be read

    def __str__(self) -> str:
        if self.prefix is None:
            return f'no loadable checkpoint ({self.error})'
        return f'{os.path.basename(self.prefix)} loads (step {self.step}, every tensor read)'


def newest_checkpoint(save_dir) -> Newest:
    """Finds the newest complete checkpoint as eval and resume do, and reads every tensor of it."""
    import tensorflow as tf

    from clarinet_ddsp.training import checkpointing

    try:
        prefix = checkpointing.get_latest_checkpoint(str(save_dir))
        reader = tf.train.load_checkpoint(prefix)
        for key in reader.get_variable_to_shape_map():
            reader.get_tensor(key)
        return Newest(prefix, int(reader.get_tensor(_STEP_KEY)))
    except (FileNotFoundError, tf.errors.NotFoundError) as error:
        return Newest(None, None, str(error).splitlines()[0], missing=True)
    except (ValueError, tf.errors.OpError) as error:
        return Newest(None, None, str(error).splitlines()[0])


def _progress_steps(text: str) -> list[int]:
    return [int(s) for s in re.findall(r'step: (\d+)/', text)]


def _at_step(n: int):
    return lambda m: int(m.group(1)) >= n


def _until_stopped_flags(work: pathlib.Path, save_dir: pathlib.Path) -> list[str]:
    """Train flags on tiny data that run until a signal stops them, saving every 4 steps."""
    return train_flags(
        save_dir,
        tiny_data(work),
        'train_util.train.num_steps=100000',
        'train_util.train.steps_per_save=4',
        'train_util.train.steps_per_summary=1',
    )


def train_stop_signal(work: pathlib.Path) -> list[Row]:
    """SIGTERM mid-training (a preempted machine), a second train started meanwhile, and the rerun."""
    rows = []
    save_dir = work / 'run'
    flags = _until_stopped_flags(work, save_dir)
    first = Cli('run', ['--mode=train', *flags], work / 'train-first.log')
    try:
        if not first.wait_for(r'step: (\d+)/100000', accept=_at_step(6)):
            first.wait(60)
            return [Row('train start', 'trains', f'exit {first.returncode}', False, first.tail())]
        second = run_cli('run', ['--mode=train', *flags], work / 'train-second.log')
        line = second.line('clarinet_ddsp_run:')
        rows.append(
            Row(
                'second --mode=train on the same save_dir',
                f'exit 1 before training, one line naming the first (PID {first.pid}); the first goes on',
                f'exit {second.returncode} after {second.secs():.0f} s: {line[:160]}...',
                second.returncode == 1
                and f'in use by PID {first.pid} on host' in line
                and 'step: ' not in second.text()
                and first.proc.poll() is None,
                second.tail(),
            )
        )
    finally:
        if first.proc.poll() is None:
            os.kill(first.pid, signal.SIGTERM)
    first.wait()
    line = first.line('clarinet_ddsp_run:')
    match = re.search(
        r'interrupted by SIGTERM at step (\d+); saved (\S+); rerun the same command to go on$', line
    )
    newest = newest_checkpoint(save_dir)
    step = int(match.group(1)) if match else -1
    rows.append(
        Row(
            'SIGTERM during train',
            'exit 143; "interrupted by SIGTERM at step N; saved .../ckpt-N; rerun the same command to go '
            'on"; ckpt-N is the newest and loads',
            f'exit {first.returncode}: {line.split(": ", 1)[-1]}; {newest}',
            first.returncode == 143
            and match is not None
            and newest.prefix == match.group(2)
            and newest.step == step
            and not (save_dir / 'train.lock').exists(),
            first.tail(),
        )
    )
    rerun = run_cli(
        'run',
        ['--mode=train', *flags, f'--gin_param=train_util.train.num_steps={step + 2}'],
        work / 'rerun.log',
    )
    steps = _progress_steps(rerun.text())
    after = newest_checkpoint(save_dir)
    rows.append(
        Row(
            'rerun of the same command after SIGTERM',
            f'exit 0, resumes from ckpt-{step}: first step {step + 1}, ends with ckpt-{step + 2}',
            f'exit {rerun.returncode}, steps {steps[:1]}..{steps[-1:]}, {after}',
            rerun.returncode == 0
            and re.search(rf'Loaded checkpoint \S*ckpt-{step}\b', rerun.text()) is not None
            and steps[:1] == [step + 1]
            and after.step == step + 2,
            rerun.tail(),
        )
    )
    return rows


def train_two_signals(work: pathlib.Path) -> list[Row]:
    """SIGINT twice (an impatient Ctrl-C): the process ends at once; the rerun takes its lock over.

    Batches of 256 make a step long enough (~0.3 s on a fast 2-core Xeon) for the second signal to
    arrive before the step and its save are over: at batch 2 a step takes 6 ms there and the process
    had exited before the log line announcing the first signal was read.
    """
    rows = []
    save_dir = work / 'run'
    flags = [*_until_stopped_flags(work, save_dir), '--gin_param=batch_size=256']
    train = Cli('run', ['--mode=train', *flags], work / 'train.log')
    if not train.wait_for(r'step: (\d+)/100000', accept=_at_step(6)):
        train.wait(60)
        return [Row('train start', 'trains', f'exit {train.returncode}', False, train.tail())]
    before = newest_checkpoint(save_dir)
    os.kill(train.pid, signal.SIGINT)
    noticed = train.wait_for(r'SIGINT received: train finishes the current step', timeout=120)
    if noticed:
        os.kill(train.pid, signal.SIGINT)
    sent = time.time()
    train.wait()
    gone = time.time() - sent
    newest = newest_checkpoint(save_dir)
    rows.append(
        Row(
            'SIGINT, then a second SIGINT while it saves',
            'the first is logged; the second ends the process at once (killed by SIGINT); the newest '
            'complete checkpoint loads',
            f'exit {train.returncode} {gone:.1f} s after the second; newest before: step {before.step}; '
            f'now: {newest}',
            noticed is not None
            and train.returncode == -signal.SIGINT
            and newest.step is not None
            and newest.step >= (before.step or 0),
            train.tail(),
        )
    )
    rerun = run_cli(
        'run',
        ['--mode=train', *flags, f'--gin_param=train_util.train.num_steps={(newest.step or 0) + 1}'],
        work / 'rerun.log',
    )
    after = newest_checkpoint(save_dir)
    rows.append(
        Row(
            'rerun after the process was killed (its lock file left behind)',
            f'exit 0; a warning that the lock of PID {train.pid} is taken over; resumes from the newest',
            f'exit {rerun.returncode}; {after}',
            rerun.returncode == 0
            and f'left by PID {train.pid} on host' in rerun.text()
            and re.search(rf'Loaded checkpoint \S*ckpt-{newest.step}\b', rerun.text()) is not None
            and after.step == (newest.step or 0) + 1,
            rerun.tail(),
        )
    )
    return rows


def second_train_refused(work: pathlib.Path) -> list[Row]:
    """A second --mode=train while another process holds save_dir's lock stops before training."""
    from tests import lock_holder

    pattern = tiny_data(work)
    save_dir = work / 'run'
    with lock_holder.held(str(save_dir), 'train.lock') as holder:
        second = run_cli('run', ['--mode=train', *train_flags(save_dir, pattern)], work / 'second.log')
    line = second.line('clarinet_ddsp_run:')
    written = sorted(os.path.basename(p) for p in glob.glob(str(save_dir / '*')))
    return [
        Row(
            'a second --mode=train on a save_dir in use',
            f'exit 1, one line naming the holder (PID {holder.pid}, host, start time); nothing written',
            f'exit {second.returncode} after {second.secs():.0f} s: {line[:150]}...; save_dir: {written}',
            second.returncode == 1
            and f'in use by PID {holder.pid} on host' in line
            and 'started' in line
            and 'Traceback' not in second.text()
            and written == [],
            second.tail(),
        )
    ]


def eval_beside_train(work: pathlib.Path) -> list[Row]:
    """eval polls while train saves every step (keeping 2); then SIGINT/SIGTERM stop eval and sample."""
    rows = []
    pattern = tiny_data(work)
    save_dir = work / 'run'
    train = Cli(
        'run',
        [
            '--mode=train',
            *train_flags(
                save_dir,
                pattern,
                'train_util.train.num_steps=40',
                'train_util.train.steps_per_save=1',
                'train_util.train.steps_per_summary=10',
                'Trainer.checkpoints_to_keep=2',
            ),
        ],
        work / 'train.log',
    )
    train.wait_for(r'step: (\d+)/40')
    evaluation = Cli(
        'run',
        ['--mode=eval', *eval_flags(save_dir, pattern, 'evaluate.run_until_step=40')],
        work / 'eval.log',
    )
    # Meanwhile a reader here looks up the newest checkpoint as eval does, as fast as it can, and reads
    # every tensor of it: a half-written one would fail to read.
    reads, vanished, bad = set(), 0, []
    while train.proc.poll() is None:
        newest = newest_checkpoint(save_dir)
        if newest.step is not None:
            reads.add(newest.step)
        elif not newest.missing:
            bad.append(newest.error)
        elif reads:
            vanished += 1
    train.wait()
    rows.append(
        Row(
            'a reader looking up and loading the newest checkpoint in a loop while train saves every step',
            'every checkpoint it found loads in full (one deleted by max_to_keep meanwhile is not found)',
            f'{len(reads)} different checkpoints read in full, {vanished} gone before reading, '
            f'{len(bad)} unreadable {bad[:1]}',
            len(reads) >= 3 and not bad and train.returncode == 0,
            train.tail(),
        )
    )
    evaluation.wait()
    results = sorted(glob.glob(str(save_dir / 'eval_results' / 'step_*.json')))
    text = evaluation.text()
    rows.append(
        Row(
            'eval polling while train saves every step and deletes old ones',
            'eval exits 0 at step 40; each checkpoint it picked was complete (no read error)',
            f'eval exit {evaluation.returncode}, train exit {train.returncode}; {len(results)} checkpoint(s) '
            f'evaluated, {text.count("vanished before it was read")} vanished ones skipped',
            evaluation.returncode == 0
            and train.returncode == 0
            and bool(results)
            and results[-1].endswith('step_40.json')
            and 'Traceback' not in text,
            evaluation.tail(),
        )
    )
    for mode, signum in (('eval', signal.SIGINT), ('sample', signal.SIGTERM)):
        poller = Cli('run', [f'--mode={mode}', *eval_flags(save_dir, pattern)], work / f'{mode}-poll.log')
        waiting = poller.wait_for(r'Waiting for a new checkpoint')
        if waiting:
            os.kill(poller.pid, signum)
        poller.wait()
        name = signal.Signals(signum).name
        line = poller.line('clarinet_ddsp_run:')
        outcome = f'interrupted by {name} while running {mode}; results up to step 40 are written'
        rows.append(
            Row(
                f'{name} to a --mode={mode} waiting for checkpoints',
                f'exit {128 + signum}, "{outcome}", no traceback',
                f'exit {poller.returncode}: {line.split(": ", 1)[-1]}',
                waiting is not None
                and poller.returncode == 128 + signum
                and line.endswith(outcome)
                and 'Traceback' not in poller.text(),
                poller.tail(),
            )
        )
    return rows


# ------------------------------------------------------------------------------------- records
def _tf_error_offset(path: str) -> int | None:
    """Where TensorFlow's own reader fails in this file (the independent reference for the offset)."""
    import tensorflow as tf

    try:
        list(tf.data.TFRecordDataset(path))
    except tf.errors.DataLossError as error:
        return int(re.search(r'record at (\d+)', error.message).group(1))
    return None


def truncated_shard(work: pathlib.Path, skip: bool = False) -> list[Row]:
    """A shard cut short (an interrupted copy): train stops naming it and the offset, or skips it."""
    pattern = tiny_data(work)
    shard = work / 'data' / 'train.tfrecord-00001-of-00002'
    raw = shard.read_bytes()
    shard.write_bytes(raw[: len(raw) * 3 // 4])
    offset = _tf_error_offset(str(shard))
    save_dir = work / 'run'
    if not skip:
        train = run_cli('run', ['--mode=train', *train_flags(save_dir, pattern)], work / 'train.log')
        line = train.line('clarinet_ddsp_run:')
        return [
            Row(
                'a truncated TFRecord shard',
                f'exit 1 before training, one line: the shard, "at byte offset {offset}" (where TensorFlow '
                'fails), and TFRecordProvider.skip_corrupt',
                f'exit {train.returncode}: {line[:170]}...',
                train.returncode == 1
                and f'cannot read {shard} at byte offset {offset}: truncated record' in line
                and 'TFRecordProvider.skip_corrupt=True' in line
                and 'Traceback' not in train.text(),
                train.tail(),
            )
        ]
    train = run_cli(
        'run',
        [
            '--mode=train',
            *train_flags(
                save_dir, pattern, 'TFRecordProvider.skip_corrupt=True', 'train_util.train.num_steps=3'
            ),
        ],
        work / 'train-skip.log',
    )
    newest = newest_checkpoint(save_dir)
    return [
        Row(
            'a truncated shard with TFRecordProvider.skip_corrupt=True',
            'trains (exit 0, ckpt-3 loads); logs that 1 unreadable part was skipped and where',
            f'exit {train.returncode}; {newest}',
            train.returncode == 0
            and 'skipping 1 unreadable part(s)' in train.text()
            and f'{shard} at byte offset {offset}' in train.text()
            and newest.step == 3,
            train.tail(),
        )
    ]


def truncated_shard_skipped(work: pathlib.Path) -> list[Row]:
    return truncated_shard(work, skip=True)


def records_of_another_length(work: pathlib.Path) -> list[Row]:
    """TFRecords of 2 s examples given to a 0.128 s configuration: one line with key, lengths, flags."""
    from tests.training import tiny

    pattern = tiny_data(work, n_samples=2 * tiny.SAMPLE_RATE)
    train = run_cli('run', ['--mode=train', *train_flags(work / 'run', pattern)], work / 'train.log')
    line = train.line('clarinet_ddsp_run:')
    return [
        Row(
            'TFRecords whose lengths do not fit the model',
            "exit 1, one line: the file, 'audio' of length 32000 where 2048 is needed, the prepare flags",
            f'exit {train.returncode}: {line[:170]}...',
            train.returncode == 1
            and "have 'audio' of length 32000, where this configuration" in line
            and 'needs 2048' in line
            and 'clarinet_ddsp_prepare_tfrecord --example_secs=0.128 --sample_rate=16000 --frame_rate=250'
            in line
            and 'Traceback' not in train.text(),
            train.tail(),
        )
    ]


# ------------------------------------------------------------------------------------ prepare
# The in-process runner: the same pipeline without starting worker processes (faster on 2 cores).
IN_MEMORY = '--pipeline_options=--runner=DirectRunner,--direct_num_workers=1,--direct_running_mode=in_memory'


def _audio(work: pathlib.Path) -> str:
    from tests.data_prep import audio_files

    os.makedirs(work / 'wav', exist_ok=True)
    for i, f0_hz in enumerate((220.0, 330.0, 440.0)):
        audio_files.write_tone(str(work / 'wav' / f'tone{i}.wav'), f0_hz, 2.0)
    return str(work / 'wav' / '*.wav')


def prepare_flags(work: pathlib.Path, *extra: str, out: pathlib.Path | None = None) -> list[str]:
    return [
        f'--input_audio_filepatterns={_audio(work)}',
        f'--output_tfrecord_path={(out or work / "out") / "train.tfrecord"}',
        '--num_shards=2',
        '--example_secs=1',
        '--crepe_model=tiny',
        *extra,
    ]


def shards_state(work: pathlib.Path) -> tuple[list[tuple[str, int, int]], int, str]:
    """The files work/out/train.tfrecord* matches (name, size, mtime), their records (all read), an error."""
    import tensorflow as tf

    from clarinet_ddsp.training import tfrecord_scan

    files = sorted(glob.glob(str(work / 'out' / 'train.tfrecord*')))
    stats = [(os.path.basename(f), os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
    n_records = 0
    for path in files:
        scan = tfrecord_scan.scan_file(path, check_data=True)
        if scan.bad:
            return stats, n_records, str(scan.bad[0])
        n_records += len(scan.records)
        for record in tf.data.TFRecordDataset(path):
            tf.train.Example.FromString(record.numpy())
    return stats, n_records, ''


def reader_warnings(pattern: str) -> str:
    """What TFRecordProvider logs (WARNING and up) when it lists the files of pattern."""
    import logging

    from clarinet_ddsp.training import data

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger('absl')
    logger.addHandler(handler)
    try:
        data.TFRecordProvider(pattern)._list_files()
    finally:
        logger.removeHandler(handler)
    return ' '.join(r.getMessage() for r in records)


def prepare_refused(work: pathlib.Path) -> list[Row]:
    """A second preparation of a prefix another process is preparing stops at once."""
    from tests import lock_holder

    os.makedirs(work / 'out', exist_ok=True)
    with lock_holder.held(str(work / 'out'), '.train.tfrecord.lock') as holder:
        second = run_cli('prepare_tfrecord', prepare_flags(work, IN_MEMORY), work / 'second.log')
    line = second.line('clarinet_ddsp_prepare_tfrecord:')
    files, _, _ = shards_state(work)
    return [
        Row(
            'a second prepare on an output prefix in use',
            f'exit 1 before reading audio, one line naming the holder (PID {holder.pid}); nothing written',
            f'exit {second.returncode} after {second.secs():.0f} s: {line[:150]}...; glob matches {files}',
            second.returncode == 1
            and f'in use by PID {holder.pid} on host' in line
            and 'Validating' not in second.text()
            and files == [],
            second.tail(),
        )
    ]


# Runs the prepare CLI with the publishing step cut after its first rename, as SIGKILL could cut it.
_KILLED_WHILE_PUBLISHING = r"""
import os, sys
from apache_beam.io.filesystems import FileSystems
from clarinet_ddsp.cli import prepare_tfrecord
real_rename = FileSystems.rename
def rename(sources, destinations):
    real_rename(sources[:1], destinations[:1])
    os._exit(137)
FileSystems.rename = rename
sys.argv[0] = 'clarinet_ddsp_prepare_tfrecord'
prepare_tfrecord.console_entry_point()
"""


def prepare_killed(work: pathlib.Path) -> list[Row]:
    """prepare killed (SIGKILL) mid-pipeline and mid-publishing, and the rerun with the same flags."""
    rows = []
    flags = prepare_flags(work, IN_MEMORY)
    first = run_cli('prepare_tfrecord', flags, work / 'first.log')
    baseline = shards_state(work)
    if first.returncode != 0 or len(baseline[0]) != 2:
        return [Row('prepare', '2 shards', f'exit {first.returncode}, {baseline}', False, first.tail())]

    running = Cli('prepare_tfrecord', flags, work / 'killed.log')
    in_pipeline = running.wait_for(r'f0 \(CREPE tiny\) of a')  # Mid-pipeline, shards being written.
    if running.proc.poll() is None:
        os.kill(running.pid, signal.SIGKILL)
    running.wait()
    state = shards_state(work)
    names = [name for name, _, _ in state[0]]
    rows.append(
        Row(
            'prepare killed (SIGKILL) while its pipeline runs',
            f"the glob shows the previous run's {len(baseline[0])} shards ({baseline[1]} records), "
            'untouched, and nothing else',
            f'killed ({running.returncode}); glob matches {names}, {state[1]} records readable {state[2]}',
            in_pipeline is not None and running.returncode == -signal.SIGKILL and state == baseline,
            running.tail(),
        )
    )
    cut = run_cli('prepare_tfrecord', flags, work / 'cut.log', python_code=_KILLED_WHILE_PUBLISHING)
    stats, n_records, error = shards_state(work)
    names = [name for name, _, _ in stats]
    warning = reader_warnings(str(work / 'out' / 'train.tfrecord*'))
    rows.append(
        Row(
            'prepare killed between two renames of its publishing step (injected)',
            'the glob shows only complete new shards (1 of 2); TFRecordProvider warns that 00001 is missing',
            f'exit {cut.returncode}; glob matches {names}, {n_records} records readable {error}; '
            f'warning: {warning[:90]}...',
            cut.returncode == 137
            and names == ['train.tfrecord-00000-of-00002']
            and not error
            and '1 of the 2 shards' in warning
            and 'missing: 00001' in warning,
            cut.tail(),
        )
    )
    rerun = run_cli('prepare_tfrecord', flags, work / 'rerun.log')
    stats, n_records, error = shards_state(work)
    names = [name for name, _, _ in stats]
    leftovers = [n for n in os.listdir(work / 'out') if n.startswith('.')]
    rows.append(
        Row(
            'rerun of the same prepare command after the kills',
            f"exit 0, {len(baseline[0])} complete shards with {baseline[1]} records; the killed runs' "
            'scratch removed; no lock left',
            f'exit {rerun.returncode}; {names}, {n_records} records {error}; hidden files left: {leftovers}',
            rerun.returncode == 0
            and names == [name for name, _, _ in baseline[0]]
            and n_records == baseline[1]
            and not error
            and leftovers == []
            and 'left by a preparation that was killed' in rerun.text(),
            rerun.tail(),
        )
    )
    return rows


# ----------------------------------------------------------------------------------- full disk
@contextlib.contextmanager
def small_filesystem(path: pathlib.Path, size_mb: int) -> Iterator[bool]:
    """A tmpfs of size_mb at path; yields False where mounting is not allowed (the caller then injects)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which('mount'):
        yield False
        return
    mounted = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', f'size={size_mb}m', 'tmpfs', str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(['umount', '-l', str(path)], capture_output=True)


def fill(path: pathlib.Path) -> None:
    """Writes zeros into path/filler until the filesystem is full."""
    with open(path / 'filler', 'wb') as f:
        try:
            while True:
                f.write(b'\0' * (1 << 16))
                f.flush()
        except OSError:
            pass


# The train CLI with the checkpoint write failing as a full disk fails it, from step 6 on.
_CHECKPOINT_DISK_FULL = r"""
import sys
import tensorflow as tf
from clarinet_ddsp.cli import run
from clarinet_ddsp.training import checkpointing
real_save = checkpointing.AtomicCheckpointManager.save
def save(self, step, options=None):
    if int(step) >= 6:
        raise tf.errors.ResourceExhaustedError(
            None, None, f'{self.directory}/ckpt-{int(step)}_temp/part; No space left on device')
    return real_save(self, step, options)
checkpointing.AtomicCheckpointManager.save = save
sys.argv[0] = 'clarinet_ddsp_run'
run.console_entry_point()
"""


def disk_full_train(work: pathlib.Path) -> list[Row]:
    """The disk of save_dir fills up while train runs: the next checkpoint or summary write fails."""
    pattern = tiny_data(work)
    small = work / 'small'
    with small_filesystem(small, 64) as mounted:
        save_dir = small / 'run'
        flags = train_flags(
            save_dir,
            pattern,
            'train_util.train.num_steps=100000' if mounted else 'train_util.train.num_steps=20',
            'train_util.train.steps_per_save=2',
            'train_util.train.steps_per_summary=1',
        )
        code = None if mounted else _CHECKPOINT_DISK_FULL
        train = Cli('run', ['--mode=train', *flags], work / 'train.log', python_code=code)
        saved = train.wait_for(r'Saved checkpoint \S*ckpt-(\d+)', accept=_at_step(4))
        if mounted and saved:
            fill(small)
        train.wait()
        line = train.line('clarinet_ddsp_run:')
        newest = newest_checkpoint(save_dir)
        leftovers = sorted(
            os.path.basename(p)
            for p in glob.glob(str(save_dir / 'ckpt-*'))
            if '_temp' in p or int(re.match(r'ckpt-(\d+)', os.path.basename(p)).group(1)) > (newest.step or 0)
        )
    how = 'a 64 MB tmpfs filled up' if mounted else 'injected at the checkpoint write (no mount allowed)'
    return [
        Row(
            f'full disk under save_dir while training ({how})',
            'exit 1, one line naming save_dir, its free space and the newest complete checkpoint; that '
            'checkpoint loads; no half-written checkpoint files left',
            f'exit {train.returncode}: {line.split("error: ", 1)[-1][:170]}...; {newest}; left: {leftovers}',
            saved is not None
            and train.returncode == 1
            and f'the disk is full writing {save_dir} (' in line
            and ' free of ' in line
            and f'the newest complete checkpoint is ckpt-{newest.step}' in line
            and newest.step is not None
            and newest.step >= 4
            and leftovers == []
            and 'Traceback' not in train.text(),
            train.tail(),
        )
    ]


# The prepare CLI with the shard writes failing as a full disk fails them.
_SHARDS_DISK_FULL = r"""
import errno, sys
from apache_beam.io.filesystems import FileSystems
from clarinet_ddsp.cli import prepare_tfrecord
real_create = FileSystems.create
def create(path, *args, **kwargs):
    if '.part-' in path or '-of-' in path:
        raise OSError(errno.ENOSPC, 'No space left on device', path)
    return real_create(path, *args, **kwargs)
FileSystems.create = create
sys.argv[0] = 'clarinet_ddsp_prepare_tfrecord'
prepare_tfrecord.console_entry_point()
"""


def disk_full_prepare(work: pathlib.Path) -> list[Row]:
    """The output disk fills up while prepare writes its shards: the older shards stay as they were."""
    small = work / 'small'
    with small_filesystem(small, 16) as mounted:
        flags = prepare_flags(work, IN_MEMORY, out=small / 'out')
        first = run_cli('prepare_tfrecord', flags, work / 'first.log')
        baseline = shards_state(small)
        if mounted:
            fill(small)
        code = None if mounted else _SHARDS_DISK_FULL
        full = run_cli('prepare_tfrecord', flags, work / 'full.log', python_code=code)
        line = full.line('clarinet_ddsp_prepare_tfrecord:')
        state = shards_state(small)
        hidden = sorted(n for n in os.listdir(small / 'out') if n.startswith('.'))
    how = 'a 16 MB tmpfs filled up' if mounted else 'injected at the shard writes (no mount allowed)'
    return [
        Row(
            f'full disk while prepare writes shards ({how})',
            'exit 1, one line naming the output folder, its free space and that the older shards are '
            'unchanged; they still read in full; no scratch left',
            f'exit {full.returncode}: {line.split("error: ", 1)[-1][:170]}...; glob: {len(state[0])} shards, '
            f'{state[1]} records {state[2]}; hidden files: {hidden}',
            first.returncode == 0
            and len(baseline[0]) == 2
            and full.returncode == 1
            and line.startswith(
                f'clarinet_ddsp_prepare_tfrecord: error: prepare: the disk is full writing {small / "out"} ('
            )
            and 'older shards of this prefix are unchanged' in line
            and state == baseline
            and hidden == []
            and full.text().strip().splitlines()[-1] == line,  # Beam logs the worker's traceback before.
            full.tail(),
        )
    ]


# name -> scenario: tests/test_faults.py asserts each (so `make test` and CI run them: about 4 minutes
# together on an idle 2-core machine); `scripts/chaos.py` prints them as a table.
SCENARIOS: dict[str, Callable[[pathlib.Path], list[Row]]] = {
    'second_train_refused': second_train_refused,
    'truncated_shard': truncated_shard,
    'records_of_another_length': records_of_another_length,
    'prepare_refused': prepare_refused,
    'train_stop_signal': train_stop_signal,
    'train_two_signals': train_two_signals,
    'eval_beside_train': eval_beside_train,
    'truncated_shard_skipped': truncated_shard_skipped,
    'prepare_killed': prepare_killed,
    'disk_full_train': disk_full_train,
    'disk_full_prepare': disk_full_prepare,
}


def format_table(rows: list[Row]) -> str:
    """A plain-text table: fault | expected | observed | pass."""
    header = ('fault', 'expected', 'observed', 'pass')
    body = [(r.fault, r.expected, r.observed, 'yes' if r.passed else 'NO') for r in rows]
    widths = [max(len(x[i]) for x in [header] + body) for i in range(4)]
    widths = [min(w, 70) for w in widths[:3]] + [4]

    def wrap(text: str, width: int) -> list[str]:
        lines, line = [], ''
        for word in text.split(' '):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f'{line} {word}' if line else word
        return lines + [line]

    out = []
    for cells in [header] + body:
        wrapped = [wrap(c, w) for c, w in zip(cells, widths)]
        for i in range(max(len(w) for w in wrapped)):
            out.append(' | '.join((w[i] if i < len(w) else '').ljust(n) for w, n in zip(wrapped, widths)))
        out.append('-+-'.join('-' * n for n in widths))
    return '\n'.join(out)


def format_markdown(rows: list[Row]) -> str:
    """The table as markdown."""
    lines = ['| fault | expected | observed | pass |', '|---|---|---|---|']
    for r in rows:
        cells = [c.replace('|', '/') for c in (r.fault, r.expected, r.observed)]
        lines.append(f'| {cells[0]} | {cells[1]} | {cells[2]} | {"yes" if r.passed else "NO"} |')
    return '\n'.join(lines)
