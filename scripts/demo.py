r"""The main job out of the box (`make demo`): notes -> TFRecords -> train -> eval -> sample -> resynth.

python scripts/demo.py --work_dir runs/demo [--train_secs 600] [--max_steps 4000]

Stages (each a clarinet_ddsp program in a subprocess, its full log in WORK_DIR/logs/):
  1. notes     clarinet_ddsp_make_notes: the embedded default dataset (physical-model clarinet notes)
  2. tfrecord  clarinet_ddsp_prepare_tfrecord: 1 s windows with CREPE f0 (the tiny CREPE by default:
               the full one analyses ~0.2x realtime on 2 cores, which alone would exceed the budget)
  3. train     clarinet_ddsp_run --mode=train with clarinet_ddsp/gin/demo/clarinet_cpu.gin for a
               wall-clock budget
  4. quality   scripts/benchmark_quality.py on the notes held out of training (every 8th generated
               note): CREPE f0 error (cents), loudness L1 (dB) overall and in attacks and releases,
               multi-scale spectral distance, beside a sine and an odd-harmonic oscillator
  5. eval      clarinet_ddsp_run --mode=eval: spectral loss, loudness L1 (dB), CREPE f0 error
               (semitones) of the generated audio
  6. sample    clarinet_ddsp_run --mode=sample: original/generated WAV and spectrogram PNG files
  7. resynth   clarinet_ddsp_resynth: a sung vowel melody (not a clarinet) played by the model
  8. export    clarinet_ddsp_export: the model as a SavedModel
A rerun reuses finished stages (WORK_DIR/stages.json); --fresh starts over.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ('notes', 'tfrecord', 'train', 'quality', 'eval', 'sample', 'resynth', 'export')
# Log lines that only say which CPU features or drivers TensorFlow found.
_NOISE = re.compile(
    r'^(I0000|W0000|E0000|WARNING: All log messages|To enable the following|'
    r'.*(cuda|cuInit|oneDNN|cpu_feature_guard|computation placer|absl::Initialize))'
)


_BEAM_NOISE = (
    'Worker: severity',
    'apache_beam',
    'INFO:__main__',
    'WARNING:',
    'INFO:root',
    'Converting string literal',
    'server on port',
    'apitools',
    'bigquery',
    'DIRECT_READ',
    'semi_persistent',
    'Pipeline_options',
    'sdk_worker',
    'channel',
)


class StageError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {message}', flush=True)


class Demo:
    """Runs the stages in order, records finished ones, prints a summary."""

    def __init__(self, args):
        self.args = args
        self.work_dir = os.path.abspath(args.work_dir)
        self.notes_dir = os.path.join(self.work_dir, 'notes')
        self.heldout_dir = os.path.join(self.work_dir, 'heldout')
        self.tfrecord_prefix = os.path.join(self.work_dir, 'tfrecords', 'train.tfrecord')
        self.save_dir = os.path.join(self.work_dir, 'train')
        self.resynth_dir = os.path.join(self.work_dir, 'resynth')
        self.export_dir = os.path.join(self.work_dir, 'export')
        self.log_dir = os.path.join(self.work_dir, 'logs')
        self.state_path = os.path.join(self.work_dir, 'stages.json')
        self.state = {}
        if os.path.exists(self.state_path) and not args.fresh:
            with open(self.state_path) as f:
                self.state = json.load(f)
        self.timings = {}

    # ------------------------------------------------------------------------------ plumbing
    def _save_state(self) -> None:
        tmp = self.state_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self.state_path)

    def _env(self) -> dict:
        env = dict(os.environ)
        env.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')  # TensorFlow's C++ info lines
        env['PYTHONUNBUFFERED'] = '1'
        env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
        return env

    def run(self, stage: str, module: str, flags: list[str], watch=None) -> int:
        """Runs `python -m module flags`, streaming its progress lines; raises StageError on failure.

        watch(line, proc) may inspect each line (e.g. to stop training at its budget).
        """
        os.makedirs(self.log_dir, exist_ok=True)
        log_path = os.path.join(self.log_dir, f'{stage}.log')
        if module == '-c':
            log_path = os.path.join(self.log_dir, f'{stage}-prepare.log')
        if module.endswith('.py'):
            cmd = [sys.executable, os.path.join(REPO, module)] + flags
        else:
            cmd = [sys.executable] + (['-c'] if module == '-c' else ['-m', module]) + flags
        _say(f'{stage}: {" ".join(cmd[2:])[:300]}')
        tail: list[str] = []
        with open(log_path, 'w') as log:
            log.write(' '.join(cmd) + '\n')
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=self._env(),
                text=True,
                bufsize=1,
            )
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip()
                tail = (tail + [line])[-25:]
                if watch is not None:
                    watch(line, proc)
                if line and not _NOISE.match(line) and self._show(stage, line):
                    print(f'  {stage} | {_short(line)}', flush=True)
            rc = proc.wait()
        if rc != 0 and not getattr(proc, 'stopped_by_demo', False):
            print('\n'.join('  ! ' + t for t in tail if not _NOISE.match(t)), flush=True)
            raise StageError(f'stage "{stage}" failed (exit code {rc}); its full log is {log_path}')
        return rc

    def _show(self, stage: str, line: str) -> bool:
        if self.args.verbose:
            return True
        if stage == 'train':
            return any(
                k in line
                for k in (
                    'step:',
                    'Total params',
                    'Saved checkpoint ',
                    'rror',
                    'Restor',
                    'No checkpoint',
                    'finished',
                )
            )
        if stage in ('eval', 'sample'):
            return any(k in line for k in ('results', 'metrics at', 'Wrote', 'took', 'rror', 'Samples of'))
        if stage == 'quality':
            return line.startswith('[quality') or 'rror' in line
        # Beam's and its workers' own chatter (each line also comes back wrapped as "Worker: ...").
        return not any(k in line for k in _BEAM_NOISE)

    def stage(self, name: str, fn) -> None:
        if self.state.get(name, {}).get('done'):
            _say(f'{name}: already done ({self.state[name].get("secs", 0):.0f} s last time), reusing.')
            return
        _say(f'=== {name} ===')
        start = time.time()
        info = fn() or {}
        secs = time.time() - start
        self.timings[name] = secs
        self.state[name] = {'done': True, 'secs': secs, **info}
        self._save_state()
        _say(f'{name}: done in {secs:.0f} s')

    # -------------------------------------------------------------------------------- stages
    def notes(self):
        if self.args.input_audio:
            _say(f'notes: using your recordings {self.args.input_audio} instead of generated notes')
            return {'input_audio': self.args.input_audio}
        if os.path.isdir(self.notes_dir):
            shutil.rmtree(self.notes_dir)
        self.run(
            'notes',
            'clarinet_ddsp.cli.make_notes',
            ['--output_dir', self.notes_dir, '--alsologtostderr'] + self.args.notes_flag,
        )
        wavs = sorted(f for f in os.listdir(self.notes_dir) if f.endswith('.wav'))
        if not wavs:
            raise StageError(f'stage "notes" wrote no WAV files into {self.notes_dir}')
        # Notes the model never hears, for the quality stage: every Nth in pitch order (the dynamics
        # rotate with pitch, so they differ), starting at the middle of the first N.
        every = self.args.holdout_every
        held = wavs[every // 2 :: every] if every > 1 else []
        shutil.rmtree(self.heldout_dir, ignore_errors=True)
        if held:
            os.makedirs(self.heldout_dir)
            for name in held:
                os.replace(os.path.join(self.notes_dir, name), os.path.join(self.heldout_dir, name))
            _say(f'notes: {len(held)} held out of training for the quality stage: {", ".join(held)}')
        return {'n_files': len(wavs) - len(held), 'held_out': held}

    def tfrecord(self):
        _importable()
        from clarinet_ddsp.pitch import SILENT_FRAME_DB

        out_dir = os.path.dirname(self.tfrecord_prefix)
        if os.path.isdir(out_dir):
            shutil.rmtree(out_dir)
        self.run(
            'tfrecord',
            'clarinet_ddsp.cli.prepare_tfrecord',
            [
                f'--input_audio_filepatterns={self._audio_pattern()}',
                f'--output_tfrecord_path={self.tfrecord_prefix}',
                f'--num_shards={self.args.num_shards}',
                '--example_secs=1',
                '--hop_secs=0.5',
                f'--crepe_model={self.args.crepe_model}',
                # As resynthesis analyses: no f0 sliding away under the end of a note (pitch.SILENT_FRAME_DB).
                f'--f0_skip_below_db={SILENT_FRAME_DB}',
                '--alsologtostderr',
            ],
        )
        shards = [f for f in os.listdir(out_dir) if f.startswith('train.tfrecord')]
        if not shards:
            raise StageError(f'stage "tfrecord" wrote no shards into {out_dir}')
        return {'n_shards': len(shards)}

    def _audio_pattern(self) -> str:
        return self.args.input_audio or os.path.join(self.notes_dir, '*.wav')

    def _gin_flags(self, eval_files: bool) -> list[str]:
        files = ['datasets/tfrecord.gin'] + (['eval/basic_f0_ld.gin'] if eval_files else [])
        files.append('demo/clarinet_cpu.gin')  # last, so its sizes win
        flags = [f'--gin_file={f}' for f in files]
        flags.append(f"--gin_param=TFRecordProvider.file_pattern='{self.tfrecord_prefix}*'")
        return flags + [f'--gin_param={p}' for p in self.args.gin_param]

    def train(self):
        budget = self.args.train_secs
        start = time.time()
        state = {'over': False, 'over_at': None, 'last_step': 0, 'rate': None}
        proc_holder = {}

        def watch(line, proc):
            proc_holder['proc'] = proc
            match = re.search(r'step: (\d+)/\d+.*steps/sec: ([\d.]+)', line)
            if match:
                state['last_step'] = int(match.group(1))
                state['rate'] = float(match.group(2))
            elapsed = time.time() - start
            # Training stops itself at its budget (train.max_train_secs, whose clock starts after
            # TensorFlow's start-up); this is the fallback if it has not ten minutes later (start-up
            # and the first step's tracing take minutes on a shared machine under load).
            if not state['over'] and elapsed > budget + 600:
                state['over'], state['over_at'] = True, time.time()
                _say(
                    f'train: still running {elapsed - budget:.0f} s past its budget of {budget:.0f} s '
                    f'at step {state["last_step"]}; stopping after the next checkpoint'
                )
            if state['over'] and ('Saved checkpoint' in line or time.time() - state['over_at'] > 120):
                proc.stopped_by_demo = True
                proc.send_signal(signal.SIGTERM)

        flags = [
            '--mode=train',
            f'--save_dir={self.save_dir}',
            '--alsologtostderr',
            f'--gin_param=train.num_steps={self.args.max_steps}',
        ] + self._gin_flags(False)
        # Last, so the budget wins: training saves and stops there, and its ETA counts to it.
        flags.append(f'--gin_param=train.max_train_secs={float(budget)}')
        # Stop even if training prints nothing for a while past the budget.
        timer = threading.Timer(budget + 900, lambda: _kill_children(proc_holder))
        timer.daemon = True
        timer.start()
        try:
            self.run('train', 'clarinet_ddsp.cli.run', flags, watch=watch)
        finally:
            timer.cancel()
        step = _latest_step(self.save_dir)
        if step is None:
            raise StageError(f'stage "train" left no checkpoint in {self.save_dir}')
        return {'step': step, 'steps_per_sec': state['rate']}

    def quality(self):
        held = self.state.get('notes', {}).get('held_out') or []
        if not held or not os.path.isdir(self.heldout_dir):
            reason = 'your recordings are all trained on' if self.args.input_audio else '--holdout_every 0'
            _say(
                f'quality: no held-out notes ({reason}); scripts/benchmark_quality.py --input_audio ... '
                'splits recordings by pitch and measures the held-out ones'
            )
            return {'skipped': True}
        work = os.path.join(self.work_dir, 'quality')
        self.run(
            'quality',
            os.path.join('scripts', 'benchmark_quality.py'),
            [
                '--input_audio',
                os.path.join(self.heldout_dir, '*.wav'),
                f'--save_dir={self.save_dir}',
                f'--work_dir={work}',
                '--run_name=heldout',
                f'--crepe_model={self.args.crepe_model}',
            ],
        )
        path = os.path.join(work, 'heldout', 'quality.json')
        if not os.path.exists(path):
            raise StageError(f'stage "quality" wrote no {path}')
        with open(path) as f:
            report = json.load(f)
        files = [{k: r[k] for k in ('file', 'model', 'sine', 'odd')} for r in report['files']]
        return {'json': path, 'plot_dir': report['plot_dir'], 'median': report['median'], 'files': files}

    def eval(self):
        self.run(
            'eval',
            'clarinet_ddsp.cli.run',
            ['--mode=eval', f'--save_dir={self.save_dir}', '--run_once', '--alsologtostderr']
            + self._gin_flags(True),
        )
        path = os.path.join(self.save_dir, 'eval_results', 'latest.json')
        if not os.path.exists(path):
            raise StageError(f'stage "eval" wrote no {path}')
        with open(path) as f:
            return {'results': json.load(f)}

    def sample(self):
        self.run(
            'sample',
            'clarinet_ddsp.cli.run',
            ['--mode=sample', f'--save_dir={self.save_dir}', '--run_once', '--alsologtostderr']
            + self._gin_flags(True),
        )
        step = _latest_step(self.save_dir)
        sample_dir = os.path.join(self.save_dir, 'samples', f'step_{step}')
        if not os.path.isdir(sample_dir):
            raise StageError(f'stage "sample" wrote no {sample_dir}')
        return {'dir': sample_dir}

    def resynth(self):
        os.makedirs(self.resynth_dir, exist_ok=True)
        voice = os.path.join(self.resynth_dir, 'voice.wav')
        # "Frere Jacques" sung on 'a': a voice-like input, not a clarinet.
        self.run(
            'resynth',
            '-c',
            [
                'import soundfile as sf; from clarinet_ddsp.data_prep import voice_model; '
                'audio, _ = voice_model.sung_vowel((60, 62, 64, 60, 60, 62, 64, 60, 64, 65, 67, 67), '
                f'note_secs=0.45, vowel="a"); sf.write({voice!r}, audio, 16000)'
            ],
        )
        out = os.path.join(self.resynth_dir, 'voice_as_clarinet.wav')
        png = os.path.join(self.resynth_dir, 'voice_as_clarinet.png')
        self.run(
            'resynth',
            'clarinet_ddsp.cli.resynth',
            [
                f'--save_dir={self.save_dir}',
                f'--input={voice}',
                f'--output={out}',
                f'--crepe_model={self.args.crepe_model}',
                f'--plot={png}',
                '--alsologtostderr',
            ],
        )
        return {'input': voice, 'output': out, 'png': png}

    def export(self):
        self.run(
            'export',
            'clarinet_ddsp.cli.export',
            [f'--save_dir={self.save_dir}', f'--output={self.export_dir}', '--alsologtostderr'],
        )
        return {'dir': self.export_dir}

    # ------------------------------------------------------------------------------- summary
    def summary(self, total_secs: float) -> None:
        s = self.state
        results = s.get('eval', {}).get('results', {})
        lines = ['', '=' * 78, 'clarinet_ddsp demo finished', '=' * 78]
        lines.append('Stage times (this run; "reused" = finished earlier):')
        for name in STAGES:
            if name in self.timings:
                lines.append(f'  {name:9s} {self.timings[name]:7.0f} s')
            elif s.get(name, {}).get('done'):
                lines.append(f'  {name:9s}  reused')
        lines.append(f'  total     {total_secs:7.0f} s')
        train = s.get('train', {})
        lines.append(
            f'Training: step {train.get("step")} ({train.get("steps_per_sec") or 0:.2f} '
            'steps/s at the end); config clarinet_ddsp/gin/demo/clarinet_cpu.gin'
        )
        if results:
            lines.append(f'Eval at step {results.get("step")}:')
            lines.append(
                '  f0 error of the generated audio (CREPE, semitones): '
                f'{_fmt(results, "f0_crepe/f0_dist")}  (outlier ratio '
                f'{_fmt(results, "f0_crepe/outlier_ratio")})'
            )
            lines.append(f'  loudness L1 (dB): {_fmt(results, "loudness/loudness_db")}')
            lines.append(f'  spectral loss: {_fmt(results, "spectral_loss")}')
        lines.extend(_quality_lines(s.get('quality', {})))
        sample_dir = s.get('sample', {}).get('dir')
        if sample_dir and os.path.isdir(sample_dir):
            files = sorted(os.listdir(sample_dir))
            lines.append(f'Samples (original vs generated WAV, spectrogram PNG): {sample_dir}')
            lines.extend(f'  {f}' for f in files[:12])
        rs = s.get('resynth', {})
        if rs:
            lines.append('Timbre transfer (a sung vowel melody played by the learned clarinet):')
            lines.append(f'  input  {rs.get("input")}')
            lines.append(f'  output {rs.get("output")}')
            lines.append(f'  plot   {rs.get("png")}')
        if s.get('export'):
            lines.append(f'SavedModel: {s["export"]["dir"]} (tf.saved_model.load; see metadata.json there)')
        # The demo's model conditions on loudness; the plugin's on power (README, "Play it in a DAW").
        lines.append(
            'DDSP-VST plugin: train models/vst/vst.gin, then clarinet_ddsp_export --save_dir RUN '
            '--output exported/Clarinet --vst --name Clarinet'
        )
        lines.append(f'Logs: {self.log_dir}')
        lines.append(f'TensorBoard: tensorboard --logdir {self.save_dir}')
        print('\n'.join(lines), flush=True)


_QUALITY_COLUMNS = (
    ('f0_cents', 'f0 (cents)'),
    ('loudness_l1_db', 'loudness L1 (dB)'),
    ('attack_l1_db', 'attacks'),
    ('release_l1_db', 'releases'),
    ('spectral_distance', 'spectral distance'),
)


def _quality_lines(quality: dict) -> list[str]:
    """The held-out notes' figures beside the baselines'."""
    median = quality.get('median')
    if not median:
        return []
    files = quality.get('files', [])
    lines = [
        f'Notes never trained on ({len(files)}; whole notes resynthesised from their own f0 and loudness), '
        'medians:',
        '  ' + f'{"":22s}' + ''.join(f'{title:>18s}' for _, title in _QUALITY_COLUMNS),
    ]
    for name, title in (('model', 'learned clarinet'), ('odd', 'odd-harmonic toy'), ('sine', 'sine toy')):
        values = ''.join(f'{_num(median[name].get(key)):>18s}' for key, _ in _QUALITY_COLUMNS)
        lines.append(f'  {title:22s}{values}')
    for row in files:
        m, o = row['model'], row['odd']
        lines.append(
            f'  {row["file"]}: loudness L1 {_num(m["loudness_l1_db"], 1)} dB (attacks '
            f'{_num(m["attack_l1_db"], 1)}, releases {_num(m["release_l1_db"], 1)}), spectral '
            f'{_num(m["spectral_distance"], 2)} (odd toy {_num(o["spectral_distance"], 2)})'
        )
    lines.append(f'  plots (spectrograms, loudness curves): {quality.get("plot_dir")}')
    return lines


def _num(value, digits: int = 2) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _fmt(results: dict, key: str) -> str:
    value = results.get(key)
    return 'n/a' if value is None else f'{value:.3f}'


def _short(line: str) -> str:
    # absl's prefix "I1123 21:44:26.108576 140629954526080 train_util.py:178] " -> "train_util.py:178]"
    match = re.match(r'^[IWEF]\d{4} [\d:.]+ +\d+ (\S+\]) (.*)$', line)
    if match:
        return match.group(2)
    return line[len('INFO:absl:') :] if line.startswith('INFO:absl:') else line


def _importable() -> None:
    """Makes the package importable from a checkout where it is not installed."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)


def _latest_step(save_dir: str) -> int | None:
    """Step of the newest complete checkpoint in save_dir (None if none)."""
    _importable()
    from clarinet_ddsp.training import checkpointing  # imported here: only the stages need TensorFlow

    return checkpointing.latest_checkpoint_step(save_dir)


def _kill_children(holder) -> None:
    for proc in holder.values():
        proc.stopped_by_demo = True
        proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work_dir', default='runs/demo', help='where everything is written')
    parser.add_argument(
        '--train_secs',
        type=float,
        default=600.0,
        help='wall-clock training budget in seconds (train.max_train_secs: training saves and stops there)',
    )
    parser.add_argument('--max_steps', type=int, default=4000, help='training stops here at the latest')
    parser.add_argument(
        '--crepe_model',
        default='tiny',
        choices=['tiny', 'full'],
        help='CREPE for the TFRecords and resynthesis (full is ~25x slower)',
    )
    parser.add_argument('--num_shards', type=int, default=8)
    parser.add_argument(
        '--holdout_every',
        type=int,
        default=8,
        help='hold every Nth generated note out of training and measure the model on it (0: none)',
    )
    parser.add_argument(
        '--input_audio',
        default='',
        help='glob of your own recordings (quote it) to use instead of the generated clarinet notes',
    )
    parser.add_argument(
        '--gin_param',
        action='append',
        default=[],
        help='extra gin binding for training, eval and sample (repeatable)',
    )
    parser.add_argument(
        '--notes_flag',
        action='append',
        default=[],
        help='extra flag for clarinet_ddsp_make_notes (repeatable)',
    )
    parser.add_argument(
        '--skip', action='append', default=[], choices=STAGES, help='leave out a stage (repeatable)'
    )
    parser.add_argument('--fresh', action='store_true', help='ignore finished stages, start over')
    parser.add_argument('--verbose', action='store_true', help='show every log line')
    args = parser.parse_args()

    demo = Demo(args)
    os.makedirs(demo.work_dir, exist_ok=True)
    if args.fresh:
        for path in (demo.save_dir, demo.resynth_dir, demo.export_dir):
            shutil.rmtree(path, ignore_errors=True)
    _say(
        f'work dir {demo.work_dir}; training budget {args.train_secs:.0f} s '
        f'(max {args.max_steps} steps); CREPE {args.crepe_model}'
    )
    start = time.time()
    try:
        for name in STAGES:
            if name in args.skip:
                continue
            demo.stage(name, getattr(demo, name))
    except StageError as error:
        print(f'\ndemo: FAILED: {error}', file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(
            '\ndemo: interrupted; rerun to continue from the last finished stage.',
            file=sys.stderr,
            flush=True,
        )
        return 130
    demo.summary(time.time() - start)
    return 0


if __name__ == '__main__':
    sys.exit(main())
