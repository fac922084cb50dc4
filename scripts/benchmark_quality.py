r"""How well the learned instrument follows the player on notes it never heard.

python scripts/benchmark_quality.py --source embedded   --train_secs 600 --work_dir runs/quality/embedded
python scripts/benchmark_quality.py --source fluidsynth --train_secs 600 --work_dir runs/quality/fluidsynth
python scripts/benchmark_quality.py --input_audio '/path/to/notes/*.wav' --train_secs 600

1. Sources: --input_audio (your recordings; the pitch of each file comes from a note name in its file
   name, e.g. clarinet-fsharp4, or else from CREPE), or a source built here: `embedded` (the physical-
   model notes of make demo, D3..E6, every pitch at pp, mf and ff) or `fluidsynth` (the FluidR3_GM
   sampled clarinet, GM program 72, rendered by scripts/render_fluidsynth_notes.py).
2. Split by pitch: the distinct pitches sorted, every third one (the 2nd, 5th, ...) held out with all
   its files (its dynamics stay together).
3. Train on the rest through scripts/demo.py (make demo's path: TFRecords,
   clarinet_ddsp/gin/demo/clarinet_cpu.gin) for --train_secs of wall clock.
4. Resynthesise every held-out file whole (inference.resynthesize, no auto-adjust: the input's own f0
   and loudness) and measure it against its input: CREPE f0 error (cents, over the notes between their
   attack and release), loudness L1 (dB) over the notes, their attacks (first 100 ms) and releases
   (last 100 ms before silence), the output's level over the input's in the 100 ms after each note
   ("tail", + = it does not stop), and the multi-scale spectral distance (ddsp's SpectralLoss form).
   The same figures for two toy instruments driven by the input's f0 and frame RMS (a sine; odd
   harmonics at 1/k) put them in scale.
Writes WORK_DIR/RUN_NAME/quality.json (per file and medians, the run's steps, load average, CPU,
commit) and WORK_DIR/RUN_NAME/plots/<file>.png (input and output spectrograms, loudness curves), and
prints a table. A rerun reuses the source, the TFRecords and the baselines' figures, and trains afresh.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout without the package installed


def _say(message: str) -> None:
    print(f'[quality {time.strftime("%H:%M:%S")}] {message}', flush=True)


# ------------------------------------------------------------------------------------------ sources
def build_embedded(out_dir: str) -> list[str]:
    """The demo's physical-model notes, D3..E6, every pitch at pp, mf and ff."""
    from clarinet_ddsp.data_prep import notes

    plan = notes.note_plan(dynamics=('pp', 'mf', 'ff'), all_dynamics=True)
    names = [
        f'{i:06d}__physmodel__clarinet-{notes.midi_to_name(m)}-{d}.wav' for i, (m, d) in enumerate(plan, 1)
    ]
    paths = [os.path.join(out_dir, n) for n in names]
    if all(os.path.exists(p) for p in paths):  # rendered by an earlier run
        return paths
    return notes.write_notes(out_dir, dynamics=('pp', 'mf', 'ff'), all_dynamics=True)


def build_fluidsynth(out_dir: str) -> list[str]:
    """FluidR3_GM's sampled clarinet, D3..E6 at pp/mf/ff (scripts/render_fluidsynth_notes.py)."""
    sys.path.insert(0, os.path.join(REPO, 'scripts'))
    import render_fluidsynth_notes

    return render_fluidsynth_notes.render_notes(out_dir)


def pitch_of(path: str, crepe_model: str) -> int:
    """The MIDI note in the file name, else the rounded median CREPE pitch of its confident frames."""
    from clarinet_ddsp import inference
    from clarinet_ddsp.data_prep import audio_io, notes
    from clarinet_ddsp.training import metrics

    midi = notes.midi_from_filename(path)
    if midi is not None:
        return midi
    audio = audio_io.load_audio(path, 16000)
    features = inference.compute_features(audio, 16000, 64, crepe_model=crepe_model)
    voiced = features['f0_confidence'] >= 0.85
    if not np.any(voiced):
        raise SystemExit(
            f'{path}: no note name in the file name and no confident pitch; cannot split by pitch.'
        )
    return int(np.round(np.median(metrics.hz_to_midi(features['f0_hz'][voiced]))))


# ----------------------------------------------------------------------------------------- training
class LoadSampler:
    """The 1-minute load average every few seconds while training runs."""

    def __init__(self, every_secs: float = 10.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every_secs,), daemon=True)

    def _run(self, every_secs):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(every_secs)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _demo_command(args, train_dir: str, work_dir: str, skip: tuple[str, ...]) -> list[str]:
    """scripts/demo.py on the training files in work_dir, its stages in skip left out."""
    cmd = [sys.executable, os.path.join(REPO, 'scripts', 'demo.py'), '--work_dir', work_dir]
    cmd += ['--input_audio', os.path.join(train_dir, '*.wav'), '--crepe_model', args.crepe_model]
    return cmd + [f'--skip={s}' for s in skip]


def prepare_data(args, train_dir: str, data_dir: str) -> dict:
    """TFRecords of the training files, once per WORK_DIR (demo.py's notes and tfrecord stages)."""
    cmd = _demo_command(args, train_dir, data_dir, ('train', 'eval', 'sample', 'resynth', 'export'))
    proc = subprocess.run(cmd, cwd=REPO)
    if proc.returncode:
        raise SystemExit(
            f'data preparation failed (demo.py exit code {proc.returncode}); logs in {data_dir}/logs'
        )
    with open(os.path.join(data_dir, 'stages.json')) as f:
        return json.load(f)


def _fresh_run(data_state: dict, data_dir: str, demo_dir: str) -> None:
    """A demo work dir whose notes and tfrecord stages are the shared data's, with no training yet."""
    shutil.rmtree(demo_dir, ignore_errors=True)
    os.makedirs(demo_dir)
    os.symlink(os.path.join(data_dir, 'tfrecords'), os.path.join(demo_dir, 'tfrecords'))
    state = {k: v for k, v in data_state.items() if k in ('notes', 'tfrecord')}
    with open(os.path.join(demo_dir, 'stages.json'), 'w') as f:
        json.dump(state, f, indent=1)


def train(args, train_dir: str, demo_dir: str) -> dict:
    cmd = _demo_command(args, train_dir, demo_dir, ('eval', 'sample', 'resynth', 'export'))
    cmd += ['--train_secs', str(args.train_secs), '--max_steps', str(args.max_steps)]
    cmd += [f'--gin_param={p}' for p in args.gin_param]
    _say('training: ' + ' '.join(cmd[1:]))
    start = time.time()
    with LoadSampler() as load:
        proc = subprocess.run(cmd, cwd=REPO)
    if proc.returncode:
        raise SystemExit(f'training failed (demo.py exit code {proc.returncode}); logs in {demo_dir}/logs')
    with open(os.path.join(demo_dir, 'stages.json')) as f:
        stages = json.load(f)
    return {
        'step': stages['train'].get('step'),
        'steps_per_sec_at_end': stages['train'].get('steps_per_sec'),
        'train_stage_secs': stages['train'].get('secs'),
        'tfrecord_stage_secs': stages.get('tfrecord', {}).get('secs'),
        'wall_secs': time.time() - start,
        'load_average_mean': float(np.mean(load.samples)) if load.samples else None,
        'load_average_max': float(np.max(load.samples)) if load.samples else None,
    }


def checkpoint_at_secs(demo_dir: str, secs: float) -> tuple[str, int, int]:
    """The newest checkpoint saved within secs of training's start, from the progress lines of
    demo_dir/logs/train.log ('step: N/M ... ETA: h:mm:ss (time budget of B s)': elapsed = B - ETA).

    The learning rate follows the step, not the clock, so this checkpoint is what a run with a budget
    of secs would have saved (at the same load). Returns (checkpoint prefix, its step, the step reached
    at secs)."""
    import re

    reached = 0
    with open(os.path.join(demo_dir, 'logs', 'train.log')) as f:
        for line in f:
            m = re.search(r'step: (\d+)/\d+.*ETA: (\d+):(\d\d):(\d\d) \(time budget of (\d+) s\)', line)
            if m:
                eta = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + int(m.group(4))
                if float(m.group(5)) - eta <= secs:
                    reached = max(reached, int(m.group(1)))
    save_dir = os.path.join(demo_dir, 'train')
    steps = sorted(
        int(n[len('ckpt-') : -len('.index')])
        for n in os.listdir(save_dir)
        if n.startswith('ckpt-') and n.endswith('.index')
    )
    within = [s for s in steps if s <= reached]
    if not within:
        raise SystemExit(
            f'--at_train_secs={secs:g}: no checkpoint of {save_dir} was saved by then (step {reached} '
            f'reached; checkpoints at steps {steps[:5]}...); give a later time, or keep every checkpoint '
            'of the run (--gin_param=Trainer.checkpoints_to_keep=N, which this script sets when it trains).'
        )
    return os.path.join(save_dir, f'ckpt-{within[-1]}'), within[-1], reached


# --------------------------------------------------------------------------------------- evaluation
def evaluate(args, test_paths: list[str], save_dir: str, plot_dir: str) -> tuple[list[dict], str]:
    from clarinet_ddsp import inference
    from clarinet_ddsp.training import note_quality as nq

    restored = inference.load_model(save_dir, checkpoint=args.checkpoint or None)
    _say(f'model: {restored.checkpoint} (step {restored.step})')
    sr, hop = restored.sample_rate, restored.hop_size
    frame_rate = sr // hop

    def analyse(audio):
        feats = inference.compute_features(audio, sr, hop, crepe_model=args.crepe_model)
        return nq.Analysis(feats['f0_hz'], feats['f0_confidence'], feats['loudness_db'])

    rows = []
    for i, path in enumerate(test_paths):
        start = time.time()
        result = inference.resynthesize(
            save_dir,
            input_path=path,
            auto_adjust_features=False,
            crepe_model=args.crepe_model,
            restored=restored,
            piece_secs=args.piece_secs,
        )
        audio = result['features']['audio']
        ref = nq.Analysis(
            result['features']['f0_hz'],
            result['features']['f0_confidence'],
            result['features']['loudness_db'],
        )
        segments = nq.note_segments(ref.loudness_db, frame_rate)
        masks = nq.note_masks(segments, ref.loudness_db.size, frame_rate)
        figures, curves = {}, {}
        out = analyse(result['audio'])
        curves['model'] = out.loudness_db
        figures['model'] = nq.file_figures(ref, audio, result['audio'], out, masks)
        figures.update(_baselines(args, path, ref, audio, masks, hop, sr, analyse, curves))
        row = {
            'file': os.path.basename(path),
            'notes_secs': [[a / frame_rate, b / frame_rate] for a, b in segments],
            **figures,
        }
        rows.append(row)
        m = figures['model']
        _say(
            f'{i + 1}/{len(test_paths)} {row["file"]}: f0 {_f(m["f0_cents"])} cents, loudness '
            f'{_f(m["loudness_l1_db"])} dB (attack {_f(m["attack_l1_db"])}, '
            f'release {_f(m["release_l1_db"])}, tail {_f(m["tail_db"])}), '
            f'spectral {_f(m["spectral_distance"], 3)} vs odd '
            f'{_f(figures["odd"]["spectral_distance"], 3)} ({time.time() - start:.0f} s)'
        )
        if plot_dir:
            _plot(
                os.path.join(plot_dir, row['file'][:-4] + '.png'),
                audio,
                result['audio'],
                sr,
                frame_rate,
                ref,
                curves,
                masks,
                row,
            )
    return rows, restored.checkpoint


def _baselines(args, path, ref, audio, masks, hop, sr, analyse, curves) -> dict:
    """The sine and odd-harmonic baselines' figures (cached in WORK_DIR/baselines: they depend only on
    the input file)."""
    from clarinet_ddsp.pitch import SILENT_FRAME_DB
    from clarinet_ddsp.training import note_quality as nq

    # Keyed by what shapes the input's f0: the CREPE capacity and resynthesis's silent-frame level.
    name = f'{os.path.basename(path)}.{args.crepe_model}.skip{SILENT_FRAME_DB:g}.json'
    cache = os.path.join(args.cache_dir, name)
    if os.path.exists(cache):
        with open(cache) as f:
            cached = json.load(f)
        curves['odd'] = np.asarray(cached.pop('odd_loudness_db'))
        return cached
    rms = nq.frame_rms(audio, hop)
    figures = {}
    for name in ('sine', 'odd'):
        out_audio = nq.oscillator_baseline(ref.f0_hz, rms, hop, sr, name)
        out = analyse(out_audio)
        figures[name] = nq.file_figures(ref, audio, out_audio, out, masks)
        if name == 'odd':
            curves['odd'] = out.loudness_db
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache, 'w') as f:
            json.dump({**figures, 'odd_loudness_db': curves['odd'].tolist()}, f)
    except OSError as error:
        _say(f'could not cache the baselines of {path}: {error}')
    return figures


def _f(value, digits=1) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


def _plot(path, audio, audio_out, sr, frame_rate, ref, curves, masks, row) -> None:
    from clarinet_ddsp.training import summaries

    fig = summaries.new_figure((10, 9))
    axes = fig.subplots(3, 1, sharex=True)
    for ax, x, title in ((axes[0], audio, 'input'), (axes[1], audio_out, 'resynthesis (model)')):
        ax.specgram(x, Fs=sr, NFFT=1024, noverlap=768, cmap='magma', vmin=-120)
        ax.set_ylim(0, sr / 2)
        ax.set_ylabel('frequency (Hz)')
        ax.set_title(title)
    times = np.arange(ref.loudness_db.size) / frame_rate
    ax = axes[2]
    ax.plot(times, ref.loudness_db, label='input', lw=1.5, color='k')
    ax.plot(times, curves['model'][: times.size], label='model', lw=1.2, color='C3')
    ax.plot(times, curves['odd'][: times.size], label='odd-harmonic baseline', lw=0.8, color='C0', ls='--')
    for mask, color, label in ((masks.attack, 'C2', 'attack'), (masks.release, 'C1', 'release')):
        ax.fill_between(times, -85, 30, where=mask[: times.size], color=color, alpha=0.15, label=label)
    top = max(np.max(ref.loudness_db), np.max(curves['model'])) + 5.0
    ax.set_ylim(-85, top)
    ax.set_xlabel('time (s)')
    ax.set_ylabel('loudness (dB)')
    ax.legend(loc='lower center', ncol=5, fontsize=8)
    m, o = row['model'], row['odd']
    fig.suptitle(
        f'{row["file"]}\nmodel: f0 {_f(m["f0_cents"])} cents, loudness L1 {_f(m["loudness_l1_db"])} dB '
        f'(attack {_f(m["attack_l1_db"])}, release {_f(m["release_l1_db"])}), spectral '
        f'{_f(m["spectral_distance"], 2)} (odd baseline {_f(o["spectral_distance"], 2)})',
        fontsize=9,
    )
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=80)


# ----------------------------------------------------------------------------------------- summary
def summarize(rows: list[dict]) -> dict:
    from clarinet_ddsp.training import note_quality as nq

    medians = {name: nq.median_figures([r[name] for r in rows]) for name in ('model', 'sine', 'odd')}
    model, odd = medians['model'], medians['odd']
    ratios = [
        r['model']['spectral_distance'] / r['odd']['spectral_distance']
        for r in rows
        if r['odd']['spectral_distance']
    ]
    medians['model']['spectral_vs_odd'] = float(np.median(ratios)) if ratios else None
    medians['targets'] = {
        'loudness_l1_db <= 2': _ok(model['loudness_l1_db'], 2.0),
        'attack_l1_db <= 4': _ok(model['attack_l1_db'], 4.0),
        'release_l1_db <= 4': _ok(model['release_l1_db'], 4.0),
        'f0_cents <= 10': _ok(model['f0_cents'], 10.0),
        'spectral <= 0.4 x odd baseline': _ok(
            model['spectral_distance'], 0.4 * (odd['spectral_distance'] or 0)
        ),
    }
    return medians


def _ok(value, bound) -> bool | None:
    return None if value is None else bool(value <= bound)


def print_table(report: dict) -> None:
    from clarinet_ddsp.training import note_quality as nq

    med = report['median']
    lines = ['', '=' * 100, f'Held-out notes ({len(report["files"])} files), medians over files', '=' * 100]
    lines.append(f'{"":8s}' + ''.join(f'{n:>18s}' for n in nq.FIGURES))
    for name in ('model', 'sine', 'odd'):
        lines.append(f'{name:8s}' + ''.join(f'{_f(med[name][n], 3):>18s}' for n in nq.FIGURES))
    lines.append(
        'model spectral distance / odd baseline (median of per-file ratios): '
        f'{_f(med["model"]["spectral_vs_odd"], 3)}'
    )
    lines.append('targets: ' + ', '.join(f'{k}: {"yes" if v else "NO"}' for k, v in med['targets'].items()))
    t = report['training']
    if t.get('at_train_secs') is not None:
        lines.append(
            f'training: checkpoint of step {t["step"]}, the last saved within {t["at_train_secs"]:.0f} s of '
            f'training (step {t["step_reached_at_secs"]} reached by then) of a '
            f'{t.get("train_stage_secs") or 0:.0f} s training stage; load average mean '
            f'{_f(t.get("load_average_mean"), 2)} max {_f(t.get("load_average_max"), 2)} over the whole stage'
        )
    elif t.get('train_stage_secs') is not None:
        lines.append(
            f'training: step {t.get("step")} in {_f(t.get("train_stage_secs"), 0)} s '
            f'(budget {report["train_secs"]:.0f} s), '
            f'load average mean {_f(t.get("load_average_mean"), 2)} max {_f(t.get("load_average_max"), 2)}'
        )
    lines.append(
        f'model {report["checkpoint"]}; {report["cpu"]} ({report["n_cpus"]} CPUs); load average before '
        f'{report["load_average_before"][0]:.2f}, after {report["load_average_after"][0]:.2f}'
    )
    lines.append(f'commit {report["commit"]}; command: {report["command"]}')
    lines.append(f'JSON: {report["json"]}; plots: {report["plot_dir"]}')
    print('\n'.join(lines), flush=True)


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def _commit() -> str:
    try:
        head = subprocess.run(
            ['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ['git', 'status', '--porcelain', '--untracked-files=no'], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        return head + (' (with local changes)' if dirty else '')
    except OSError:
        return 'unknown'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--source', choices=['embedded', 'fluidsynth'], help='build this source of notes')
    parser.add_argument('--input_audio', default='', help='glob of your recordings (quote it)')
    parser.add_argument('--work_dir', default='', help='default: runs/quality/<source>')
    parser.add_argument('--train_secs', type=float, default=600.0, help='wall-clock training budget')
    parser.add_argument('--max_steps', type=int, default=100000, help='training stops here at the latest')
    parser.add_argument(
        '--crepe_model', default='tiny', choices=['tiny', 'full'], help='CREPE for TFRecords and analysis'
    )
    parser.add_argument('--every', type=int, default=3, help='hold out one distinct pitch in this many')
    parser.add_argument('--gin_param', action='append', default=[], help='extra gin binding for training')
    parser.add_argument('--piece_secs', type=float, default=60.0, help="resynth's piece length")
    parser.add_argument(
        '--save_dir',
        default='',
        help='evaluate this trained run on every file of the source (no split, no training), e.g. notes '
        'you held out yourself',
    )
    parser.add_argument('--checkpoint', default='', help='with --save_dir: this checkpoint, not the newest')
    parser.add_argument('--max_files', type=int, default=0, help='evaluate at most this many held-out files')
    parser.add_argument(
        '--file_stride',
        type=int,
        default=1,
        help='evaluate every Nth held-out file (quick looks; 4 rotates dynamics)',
    )
    parser.add_argument('--no_plots', action='store_true')
    parser.add_argument(
        '--run_name',
        default='run',
        help='training and results go to WORK_DIR/RUN_NAME; the source, TFRecords (WORK_DIR/data) are shared',
    )
    parser.add_argument('--reuse_training', action='store_true', help="evaluate the run's existing training")
    parser.add_argument(
        '--at_train_secs',
        default='',
        help='comma-separated seconds of training: also evaluate the checkpoint a run of that budget would '
        'have ended with (e.g. 600 inside an 1800 s run; results in RUN_NAME/at_600s)',
    )
    parser.add_argument(
        '--only_at_train_secs',
        action='store_true',
        help="with --at_train_secs: not the run's last checkpoint",
    )
    args = parser.parse_args()
    if bool(args.source) == bool(args.input_audio):
        parser.error('give exactly one of --source or --input_audio')
    work_dir = os.path.abspath(args.work_dir or os.path.join(REPO, 'runs', 'quality', args.source or 'own'))
    os.makedirs(work_dir, exist_ok=True)
    args.cache_dir = os.path.join(work_dir, 'baselines')
    start = time.time()
    load_before = os.getloadavg()

    if args.source == 'embedded':
        paths = build_embedded(os.path.join(work_dir, 'source'))
    elif args.source == 'fluidsynth':
        paths = build_fluidsynth(os.path.join(work_dir, 'source'))
    else:
        paths = sorted(glob.glob(os.path.expanduser(args.input_audio)))
        if not paths:
            parser.error(f'--input_audio={args.input_audio!r} matches no file')
    paths = sorted(paths)
    _say(f'{len(paths)} files from {args.source or args.input_audio}')

    from clarinet_ddsp.training import note_quality as nq

    run_dir = os.path.join(work_dir, args.run_name)
    if args.save_dir:
        save_dir, training, test_paths, held, n_train = args.save_dir, {}, paths, [], None
    else:
        pitches = [pitch_of(p, args.crepe_model) for p in paths]
        train_idx, test_idx = nq.split_by_pitch(pitches, every=args.every)
        train_dir = os.path.join(work_dir, 'train_audio')
        names = sorted(os.path.basename(paths[i]) for i in train_idx)
        if not os.path.isdir(train_dir) or sorted(os.listdir(train_dir)) != names:
            shutil.rmtree(train_dir, ignore_errors=True)
            os.makedirs(train_dir)
            for i in train_idx:
                os.symlink(os.path.abspath(paths[i]), os.path.join(train_dir, os.path.basename(paths[i])))
        test_paths = [paths[i] for i in test_idx]
        held = sorted(set(pitches[i] for i in test_idx))
        n_train = len(train_idx)
        _say(f'split: {n_train} training files, {len(test_paths)} held-out files (MIDI pitches {held})')

        demo_dir = os.path.join(run_dir, 'demo')
        save_dir = os.path.join(demo_dir, 'train')
        if args.reuse_training:
            with open(os.path.join(demo_dir, 'stages.json')) as f:
                stage = json.load(f).get('train', {})  # absent while that training still runs
            training = {'step': stage.get('step'), 'train_stage_secs': stage.get('secs'), 'reused': True}
        else:
            if args.at_train_secs and not any('checkpoints_to_keep' in p for p in args.gin_param):
                # The checkpoint of each earlier budget must outlive the run's later ones.
                args.gin_param.append('Trainer.checkpoints_to_keep=1000000')
            data_dir = os.path.join(work_dir, 'data')
            _fresh_run(prepare_data(args, train_dir, data_dir), data_dir, demo_dir)
            training = train(args, train_dir, demo_dir)
    os.makedirs(run_dir, exist_ok=True)
    test_paths = test_paths[:: max(1, args.file_stride)]
    if args.max_files:
        test_paths = test_paths[: args.max_files]
    points = [(None, run_dir, args.checkpoint or None, training)]
    for secs in [float(x) for x in args.at_train_secs.split(',') if x.strip()]:
        if args.save_dir:
            parser.error('--at_train_secs needs the run this script trained (not --save_dir)')
        ckpt, step, reached = checkpoint_at_secs(demo_dir, secs)
        at = {**training, 'step': step, 'step_reached_at_secs': reached, 'at_train_secs': secs}
        points.insert(0, (secs, os.path.join(run_dir, f'at_{secs:g}s'), ckpt, at))
    if args.only_at_train_secs and len(points) > 1:
        points = points[:-1]
    for secs, out_dir, ckpt, train_figures in points:
        os.makedirs(out_dir, exist_ok=True)
        args.checkpoint = ckpt or ''
        plot_dir = '' if args.no_plots else os.path.join(out_dir, 'plots')
        _say(f'resynthesising {len(test_paths)} held-out files with {ckpt or save_dir}')
        rows, checkpoint = evaluate(args, test_paths, save_dir, plot_dir)
        report = {
            'command': ' '.join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
            'commit': _commit(),
            'cpu': _cpu_model(),
            'n_cpus': os.cpu_count(),
            'load_average_before': load_before,
            'load_average_after': os.getloadavg(),
            'source': args.source or args.input_audio,
            'train_secs': args.train_secs if secs is None else secs,
            'run_dir': run_dir,
            'gin_params': args.gin_param,
            'training': train_figures,
            'checkpoint': checkpoint,
            'held_out_pitches': held,
            'n_train_files': n_train,
            'files': rows,
            'median': summarize(rows),
            'json': os.path.join(out_dir, 'quality.json'),
            'plot_dir': plot_dir,
            'total_secs': time.time() - start,
        }
        with open(report['json'], 'w') as f:
            json.dump(report, f, indent=1)
        print_table(report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
