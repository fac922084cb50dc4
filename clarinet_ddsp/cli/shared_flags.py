"""Flags that more than one clarinet_ddsp CLI takes, each defined in one place.

absl keeps one global flag registry per process. When two CLIs are imported side by side (tests, or a
script calling several `main`s), a flag they share must have one definition, not whichever module was
imported first. Each function here defines its flag once and is a no-op afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags

from clarinet_ddsp.pitch import SHIPPED_CAPACITIES

FLAGS = flags.FLAGS


def require(names: Sequence[str], example: str) -> None:
    """Raises ValueError naming the first of the flags `names` left empty, with an example command line."""
    for name in names:
        if not getattr(FLAGS, name):
            raise ValueError(f'--{name} is required; e.g. {example}')


def _once(name: str, define) -> None:
    if name not in FLAGS:
        define()


def define_save_dir() -> None:
    # No default here: each CLI applies its own fallback (run: ddsp's /tmp/ddsp; resynth/export require it).
    _once(
        'save_dir',
        lambda: flags.DEFINE_string(
            'save_dir', None, "The training run's directory: checkpoints, summaries, operative configs."
        ),
    )


def define_sample_rate() -> None:
    _once(
        'sample_rate',
        lambda: flags.DEFINE_integer('sample_rate', 16000, 'The sample rate of the audio, in Hz.'),
    )


def define_allow_memory_growth() -> None:
    _once(
        'allow_memory_growth',
        lambda: flags.DEFINE_boolean(
            'allow_memory_growth',
            False,
            'Grow GPU memory as needed instead of reserving it all up front. '
            'Prevents crashes on GPUs with smaller memory.',
        ),
    )


def define_crepe_model() -> None:
    _once(
        'crepe_model',
        lambda: flags.DEFINE_enum(
            'crepe_model',
            'full',
            list(SHIPPED_CAPACITIES),
            'CREPE capacity for f0: full (as ddsp) or tiny (many times faster, a little less accurate).',
        ),
    )


def define_checkpoint() -> None:
    _once(
        'checkpoint',
        lambda: flags.DEFINE_string(
            'checkpoint', None, 'A checkpoint prefix (.../ckpt-<step>) instead of the newest in save_dir.'
        ),
    )


def define_reverb() -> None:
    _once('reverb', lambda: flags.DEFINE_boolean('reverb', True, "Include the model's learned reverb."))


def define_output() -> None:
    _once(
        'output',
        lambda: flags.DEFINE_string(
            'output',
            None,
            'Where to write the result: the WAV file (resynth) or the SavedModel folder (export, '
            'replaced if present).',
        ),
    )
