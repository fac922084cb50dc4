"""Resident memory of long runs, measured from outside on the real CLIs, and printed as figures.

    nice -n 10 .venv/bin/python scripts/benchmark_memory.py --work_dir /tmp/mem
    nice -n 10 .venv/bin/python scripts/benchmark_memory.py --only train --last 3000
    nice -n 10 .venv/bin/python scripts/benchmark_memory.py --only prepare,resynth --save_dir runs/demo/run

Three figures, each against its bound:
- train: clarinet_ddsp_run --mode=train on the CPU recipe (clarinet_ddsp/gin/demo/clarinet_cpu.gin, the
  demo's TFRecords of clarinet_ddsp_make_notes), resident memory at step 500 and at step 3000 (it should grow
  by less than 5%), sampled when the progress line of that step appears;
- prepare: clarinet_ddsp_prepare_tfrecord (DirectRunner, CREPE tiny) on a 1-hour 48 kHz stereo recording
  (clarinet-like notes with silences, written here in blocks), peak resident memory of its largest process
  and the proportional set size of all its processes together (each under 2 GB; tests.resident.RssWatch
  says why the plain sum of their RSS overstates it);
- resynth: clarinet_ddsp_resynth (CREPE tiny) of the same hour through the run trained above (or
  --save_dir), peak resident memory (under 2 GB).

Train, prepare and the 1-hour recording start at once; resynth starts once training has saved a
checkpoint (the resynthesis memory does not depend on the step). Exits 1 if a figure misses its bound.
This is a measurement (tens of minutes on 2 cores; tests/test_memory.py is the same on minutes of audio
and a tiny model): run it under `nice` on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import re
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests import faults  # noqa: E402  (after the checkout is on sys.path)
from tests.resident import MB, RssWatch, anon_rss, write_notes  # noqa: E402

LIMIT_BYTES = 2e9  # The bound for prepare and resynth of an hour.
GROWTH_LIMIT = 0.05  # The bound for train's growth from step `first` to step `last`.


def demo_data(work: pathlib.Path) -> str:
    """The demo's TFRecords: the default clarinet notes, 1 s windows with a 0.5 s hop, CREPE tiny."""
    work.mkdir(parents=True, exist_ok=True)
    faults.run_cli('make_notes', [f'--output_dir={work / "notes"}'], work / 'notes.log')
    prefix = work / 'tfrecords' / 'train.tfrecord'
    cli = faults.run_cli(
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
    if cli.returncode != 0:
        raise RuntimeError(f'preparing the demo data failed (exit {cli.returncode}):\n{cli.tail()}')
    return f'{prefix}*'


class Train:
    """clarinet_ddsp_run --mode=train on the CPU recipe, RSS of the process at each progress line."""

    def __init__(self, work: pathlib.Path, pattern: str, last: int):
        work.mkdir(parents=True, exist_ok=True)
        self.save_dir = work / 'run'
        self.cli = faults.Cli(
            'run',
            [
                '--mode=train',
                f'--save_dir={self.save_dir}',
                '--gin_file=datasets/tfrecord.gin',
                '--gin_file=demo/clarinet_cpu.gin',
                f"--gin_param=TFRecordProvider.file_pattern='{pattern}'",
                f'--gin_param=train.num_steps={last}',
            ],
            work / 'train.log',
        )
        self.watch = RssWatch(self.cli.pid)
        self.series: dict[int, int] = {}  # step -> RSS
        self.anon: dict[int, int] = {}  # step -> anonymous RSS
        self.last = last
        self._seen = 0

    def poll(self) -> bool:
        """Records the RSS at new progress lines; False once training has ended."""
        steps = [int(s) for s in re.findall(r'step: (\d+)/', self.cli.text())]
        for step in steps[self._seen :]:
            self.series[step] = self.watch.sample()[0]
            self.anon[step] = anon_rss(self.cli.pid)
        self._seen = len(steps)
        return self.cli.proc.poll() is None

    def has_checkpoint(self) -> bool:
        return bool(list(self.save_dir.glob('ckpt-*.index')))

    def finish(self, first: int) -> dict:
        self.cli.wait()
        self.poll()
        self.watch.stop()
        at_first, at_last = self.series.get(first), self.series.get(self.last)
        figure = {'name': 'train', 'exit': self.cli.returncode, 'series': self.series, 'anon': self.anon}
        if not at_first or not at_last:
            figure.update(passed=False, text=f'no progress line at step {first} and {self.last}')
            return figure
        growth = (at_last - at_first) / at_first
        between = [v for s, v in self.series.items() if first <= s <= self.last]
        anon_first, anon_last = self.anon.get(first, 0), self.anon.get(self.last, 0)
        anon_growth = (anon_last - anon_first) / anon_first if anon_first else float('nan')
        figure.update(
            passed=growth < GROWTH_LIMIT and not anon_growth >= GROWTH_LIMIT,
            text=f'RSS {at_first / MB:.0f} MB at step {first}, {at_last / MB:.0f} MB at step {self.last} '
            f'({growth:+.1%}; bound +{GROWTH_LIMIT:.0%}), {min(between) / MB:.0f}-{max(between) / MB:.0f} MB '
            f'in between; anonymous RSS {anon_first / MB:.0f} MB -> {anon_last / MB:.0f} MB '
            f'({anon_growth:+.1%})',
        )
        return figure


class Peak:
    """A CLI run under an RssWatch; its figure is the peak RSS against LIMIT_BYTES."""

    def __init__(self, name: str, module: str, args: list[str], log: pathlib.Path, output: pathlib.Path):
        self.name, self.output = name, output
        log.parent.mkdir(parents=True, exist_ok=True)
        self.cli = faults.Cli(module, args, log)
        self.watch = RssWatch(self.cli.pid)

    def running(self) -> bool:
        return self.cli.proc.poll() is None

    def finish(self) -> dict:
        self.cli.wait(6 * 3600)
        self.watch.stop()
        ok = self.cli.returncode == 0 and self.output.exists() and not self.watch.over
        return {
            'name': self.name,
            'passed': ok and self.watch.peak_process < LIMIT_BYTES and self.watch.peak_total < LIMIT_BYTES,
            'text': f'exit {self.cli.returncode} after {self.cli.secs() / 60:.0f} min; '
            f'{self.watch.summary()} (bound {LIMIT_BYTES / MB:.0f} MB for each)'
            + ('; stopped: over the abort limit' if self.watch.over else ''),
            'tail': self.cli.tail(),
        }


def prepare(work: pathlib.Path, audio: str) -> Peak:
    out = work / 'hour' / 'train.tfrecord'
    return Peak(
        'prepare of a 1-hour 48 kHz stereo recording',
        'prepare_tfrecord',
        [
            f'--input_audio_filepatterns={audio}',
            f'--output_tfrecord_path={out}',
            '--num_shards=8',
            '--crepe_model=tiny',
        ],
        work / 'prepare-hour.log',
        out.parent,
    )


def resynth(work: pathlib.Path, save_dir: str, audio: str) -> Peak:
    out = work / 'hour_out.wav'
    return Peak(
        'resynth of a 1-hour 48 kHz stereo recording',
        'resynth',
        [f'--save_dir={save_dir}', f'--input={audio}', f'--output={out}', '--crepe_model=tiny'],
        work / 'resynth-hour.log',
        out,
    )


def machine() -> str:
    model = platform.processor() or 'unknown CPU'
    try:
        with open('/proc/cpuinfo') as f:
            model = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    return f'{model}, {os.cpu_count()} cores, load average {load}'


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--work_dir', default='', help='keep the runs here (default: a temporary folder)')
    parser.add_argument(
        '--only', default='train,prepare,resynth', help='comma-separated: train, prepare, resynth'
    )
    parser.add_argument('--first', type=int, default=500, help='train: the step of the first figure')
    parser.add_argument('--last', type=int, default=3000, help='train: the step of the second figure')
    parser.add_argument(
        '--train_data', default='', help='train: TFRecords of 1 s examples (default: the demo notes)'
    )
    parser.add_argument(
        '--hour_audio', default='', help='prepare/resynth: the recording (default: written here)'
    )
    parser.add_argument(
        '--hour_secs', type=float, default=3600, help="the written recording's length (a check)"
    )
    parser.add_argument(
        '--save_dir', default='', help='resynth: a trained run (default: the one trained here)'
    )
    args = parser.parse_args()
    only = set(args.only.split(','))
    unknown = only - {'train', 'prepare', 'resynth'}
    if unknown:
        parser.error(f'--only: unknown {sorted(unknown)}; choose from train, prepare, resynth')
    if 'resynth' in only and 'train' not in only and not args.save_dir:
        parser.error('--only without train needs --save_dir for resynth')
    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix='benchmark-memory-'))
    work.mkdir(parents=True, exist_ok=True)
    print(f'Machine: {machine()}; runs in {work}', flush=True)
    start = time.time()

    train = None
    if 'train' in only:
        pattern = args.train_data or demo_data(work / 'train')
        train = Train(work / 'train', pattern, args.last)
    audio = args.hour_audio
    if not audio and only & {'prepare', 'resynth'}:
        audio = write_notes(work / 'hour.wav', args.hour_secs)
        print(
            f'Wrote {audio} ({os.path.getsize(audio) / MB:.0f} MB) in {time.time() - start:.0f} s', flush=True
        )
    running = []
    if 'prepare' in only:
        running.append(prepare(work / 'prepare', audio))
    pending_resynth = 'resynth' in only
    figures = []
    reported = 0
    while train is not None or running or pending_resynth:
        if train is not None:
            alive = train.poll()
            if train.series and max(train.series) >= reported + 500:
                reported = max(train.series)
                print(
                    f'  train step {reported}: RSS {train.series[reported] / MB:.0f} MB, anonymous '
                    f'{train.anon[reported] / MB:.0f} MB',
                    flush=True,
                )
            if pending_resynth and (args.save_dir or train.has_checkpoint()):
                running.append(resynth(work / 'resynth', args.save_dir or str(train.save_dir), audio))
                pending_resynth = False
            if not alive:
                figures.append(train.finish(args.first))
                print(f'  train done: {figures[-1]["text"]}', flush=True)
                train = None
        elif pending_resynth:
            running.append(resynth(work / 'resynth', args.save_dir, audio))
            pending_resynth = False
        for peak in [p for p in running if not p.running()]:
            figures.append(peak.finish())
            running.remove(peak)
            print(f'  {peak.name} done: {figures[-1]["text"]}', flush=True)
        time.sleep(0.2)

    print(f'\nMachine: {machine()}; {(time.time() - start) / 60:.0f} min in all')
    for figure in figures:
        print(f'{figure["name"]}: {figure["text"]} -> {"ok" if figure["passed"] else "MISSED"}')
        if not figure['passed'] and figure.get('tail'):
            print(figure['tail'])
    if 'train' in only:
        series = next(f['series'] for f in figures if f['name'] == 'train')
        marks = [s for s in sorted(series) if s % 250 == 0]
        anon = next(f['anon'] for f in figures if f['name'] == 'train')
        print(
            'train RSS (anonymous) by step: '
            + ', '.join(f'{s}: {series[s] / MB:.0f} ({anon.get(s, 0) / MB:.0f}) MB' for s in marks)
        )
    return 0 if all(f['passed'] for f in figures) else 1


if __name__ == '__main__':
    sys.exit(main())
