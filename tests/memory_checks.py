"""Resident memory of long runs, measured from outside on the real CLIs.

train's growth between steps 500 and 3000 on the CPU recipe (gin/demo/clarinet_cpu.gin), and the peak of
clarinet_ddsp_prepare_tfrecord and clarinet_ddsp_resynth on a 1-hour recording. scripts/chaos.py
--memory runs them (tens of minutes on 2 cores) and prints the figures in its table.
"""

from __future__ import annotations

import os
import pathlib
import re
import threading
import time

import numpy as np

from tests import faults

MB = 1e6
LIMIT_BYTES = 2e9  # The bound for prepare and resynth of an hour.
ABORT_BYTES = 8e9  # Stop a run that far over, so as not to starve a shared machine.


class RssWatch:
    """Samples the resident memory of a process and its children every interval (in a thread)."""

    def __init__(self, pid: int, interval: float = 0.25):
        import psutil

        self._root = psutil.Process(pid)
        self.peak_main = 0  # the process itself
        self.peak_process = 0  # the largest single process of the tree (a Beam worker, say)
        self.peak_total = 0  # the process tree together
        self.over = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def sample(self) -> tuple[int, int, int]:
        """(RSS of the process itself, of the largest process, of it and its children) in bytes."""
        import psutil

        try:
            procs = [self._root] + self._root.children(recursive=True)
        except psutil.Error:
            return 0, 0, 0
        sizes = []
        for proc in procs:
            try:
                sizes.append(proc.memory_info().rss)
            except psutil.Error:
                sizes.append(0)
        return sizes[0], max(sizes), sum(sizes)

    def _run(self, interval):
        while not self._stop.is_set():
            own, largest, total = self.sample()
            self.peak_main = max(self.peak_main, own)
            self.peak_process = max(self.peak_process, largest)
            self.peak_total = max(self.peak_total, total)
            if total > ABORT_BYTES and not self.over:
                self.over = True
                for proc in [self._root] + self._root.children(recursive=True):
                    try:
                        proc.kill()
                    except Exception:  # noqa: BLE001  (already gone)
                        pass
            time.sleep(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def demo_data(work: pathlib.Path) -> str:
    """The demo's TFRecords: the default clarinet notes, 1 s windows with a 0.5 s hop, CREPE tiny."""
    faults.run_cli('make_notes', [f'--output_dir={work / "notes"}'], work / 'notes.log')
    prefix = work / 'tfrecords' / 'train.tfrecord'
    faults.run_cli(
        'prepare_tfrecord',
        [
            f'--input_audio_filepatterns={work / "notes"}/*.wav',
            f'--output_tfrecord_path={prefix}',
            '--num_shards=8',
            '--example_secs=1',
            '--hop_secs=0.5',
            '--crepe_model=tiny',
        ],
        work / 'prepare-notes.log',
    )
    return f'{prefix}*'


def train_growth(
    work: pathlib.Path, pattern: str = '', first: int = 500, last: int = 3000
) -> list[faults.Row]:
    """RSS of clarinet_ddsp_run --mode=train (CPU recipe) at step `first` and at step `last`."""
    pattern = pattern or demo_data(work)
    train = faults.Cli(
        'run',
        [
            '--mode=train',
            f'--save_dir={work / "run"}',
            '--gin_file=datasets/tfrecord.gin',
            '--gin_file=demo/clarinet_cpu.gin',
            f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
            f'--gin_param=train.num_steps={last}',
        ],
        work / 'train.log',
    )
    watch = RssWatch(train.pid)
    series: dict[int, int] = {}
    seen = 0
    while train.proc.poll() is None:
        steps = [int(s) for s in re.findall(r'step: (\d+)/', train.text())]
        for step in steps[seen:]:
            series[step] = watch.sample()[0]
        seen = len(steps)
        if steps and steps[-1] >= last:
            break
        time.sleep(0.2)
    train.wait()
    watch.stop()
    at_first = series.get(first)
    at_last = series.get(last)
    if not at_first or not at_last:
        return [
            faults.Row(
                'train RSS', f'steps {first} and {last}', f'exit {train.returncode}', False, train.tail()
            )
        ]
    growth = (at_last - at_first) / at_first
    between = [v for s, v in series.items() if first <= s <= last]
    return [
        faults.Row(
            f'train, CPU recipe: resident memory from step {first} to step {last}',
            'grows by less than 5%',
            f'{at_first / MB:.0f} MB at step {first}, {at_last / MB:.0f} MB at step {last} ({growth:+.1%}); '
            f'{min(between) / MB:.0f}-{max(between) / MB:.0f} MB in between',
            growth < 0.05,
            train.tail(),
        )
    ]


def write_hour(path: pathlib.Path, secs: float = 3600, rate: int = 48000, channels: int = 2) -> str:
    """A clarinet-like melody (a note every 2 s, odd harmonics, vibrato) as 24-bit WAV, written in blocks."""
    import soundfile as sf

    block = 10 * rate
    phase = 0.0
    notes = 440.0 * 2 ** ((np.array([50, 53, 55, 57, 60, 62, 65, 67, 69, 72]) - 69) / 12)
    with sf.SoundFile(str(path), 'w', rate, channels, subtype='PCM_24') as f:
        for start in range(0, int(secs * rate), block):
            t = (start + np.arange(min(block, int(secs * rate) - start))) / rate
            f0 = notes[(t // 2).astype(int) % len(notes)] * (1 + 0.004 * np.sin(2 * np.pi * 5 * t))
            phases = phase + 2 * np.pi * np.cumsum(f0) / rate
            phase = float(phases[-1])
            envelope = np.minimum(1.0, np.minimum(t % 2, 2 - t % 2) / 0.05)
            x = sum(np.sin(k * phases) / k for k in (1, 3, 5, 7)) * 0.25 * envelope
            f.write(np.stack([x] * channels, axis=1) if channels > 1 else x)
    return str(path)


def _duration(path: str) -> str:
    import soundfile as sf

    minutes = sf.info(path).duration / 60
    return 'a 1-hour' if round(minutes) == 60 else f'a {minutes:.0f}-minute'


def _peak_row(name: str, cli: faults.Cli, watch: RssWatch) -> faults.Row:
    return faults.Row(
        name,
        f"exit 0; every process under {LIMIT_BYTES / 1e9:.0f} GB resident, whatever the recording's length",
        f'exit {cli.returncode} after {cli.secs() / 60:.0f} min; peak RSS: main process '
        f'{watch.peak_main / MB:.0f} MB, largest process {watch.peak_process / MB:.0f} MB, all processes '
        f'together {watch.peak_total / MB:.0f} MB' + ('; stopped: over the limit' if watch.over else ''),
        cli.returncode == 0 and watch.peak_process < LIMIT_BYTES,
        cli.tail(),
    )


def prepare_hour(work: pathlib.Path, audio: str = '') -> list[faults.Row]:
    """Peak RSS of clarinet_ddsp_prepare_tfrecord (default DirectRunner, CREPE tiny) on a 1-hour WAV."""
    audio = audio or write_hour(work / 'hour.wav')
    cli = faults.Cli(
        'prepare_tfrecord',
        [
            f'--input_audio_filepatterns={audio}',
            f'--output_tfrecord_path={work / "hour" / "train.tfrecord"}',
            '--num_shards=8',
            '--crepe_model=tiny',
        ],
        work / 'prepare-hour.log',
    )
    watch = RssWatch(cli.pid)
    cli.wait(6 * 3600)
    watch.stop()
    return [_peak_row(f'prepare of {_duration(audio)} 48 kHz stereo recording', cli, watch)]


def resynth_hour(work: pathlib.Path, save_dir: str, audio: str = '') -> list[faults.Row]:
    """Peak RSS of clarinet_ddsp_resynth (CREPE tiny) on a 1-hour WAV through a trained run."""
    audio = audio or write_hour(work / 'hour.wav')
    cli = faults.Cli(
        'resynth',
        [
            f'--save_dir={save_dir}',
            f'--input={audio}',
            f'--output={work / "hour_out.wav"}',
            '--crepe_model=tiny',
        ],
        work / 'resynth-hour.log',
    )
    watch = RssWatch(cli.pid)
    cli.wait(6 * 3600)
    watch.stop()
    ok = os.path.exists(work / 'hour_out.wav')
    row = _peak_row(f'resynth of {_duration(audio)} 48 kHz stereo recording', cli, watch)
    row.passed = row.passed and ok
    return [row]
