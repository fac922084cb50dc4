"""A learning rate that decays with seconds of training rather than with steps.

A recipe with a wall-clock budget (`make demo`'s 600-780 s) buys 3x more steps on one CPU than on another,
so a decay per step leaves a slow machine at a high rate when its budget ends and takes a fast one far
below it. Decaying per second of training gives every machine the same rate at the same point of its
budget. The seconds are counted by a TrainingClock, a variable saved in the checkpoint, so a resumed run
goes on from where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf
from absl import logging

# The clock's name in a checkpoint: tf.train.Checkpoint(..., train_secs=clock.variable).
CHECKPOINT_KEY = 'train_secs'


class TrainingClock:
    """Seconds of training so far: those of earlier runs (restored) plus the wall-clock time since this
    run's first tick. Tick it before each step; the time between ticks (steps, saves, summaries) counts."""

    def __init__(self, time_fn: Callable[[], float] = time.monotonic) -> None:
        self.variable = tf.Variable(0.0, dtype=tf.float64, trainable=False, name=CHECKPOINT_KEY)
        self._time_fn = time_fn
        self._start: float | None = None
        self._base = 0.0

    def tick(self) -> float:
        """Brings the variable up to date; returns the seconds of training."""
        now = self._time_fn()
        if self._start is None:
            self._start, self._base = now, float(self.variable.numpy())
        secs = self._base + (now - self._start)
        self.variable.assign(secs)
        return secs

    def restore(self, checkpoint_prefix: str) -> None:
        """Sets the clock to the seconds a checkpoint holds (0 if it holds none) and counts on from there."""
        key = f'{CHECKPOINT_KEY}/.ATTRIBUTES/VARIABLE_VALUE'
        reader = tf.train.load_checkpoint(checkpoint_prefix)
        if reader.has_tensor(key):
            self.variable.assign(float(reader.get_tensor(key)))
        else:
            logging.warning(
                '%s holds no seconds of training (it was trained with a decay per step); the learning '
                'rate decays per second from 0 s.',
                checkpoint_prefix,
            )
            self.variable.assign(0.0)
        self._start = None


class WallClockDecay(keras.optimizers.schedules.LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (seconds of training / decay_secs), whatever the step."""

    def __init__(
        self, initial_learning_rate: float, decay_secs: float, decay_rate: float, clock: TrainingClock
    ) -> None:
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_secs = float(decay_secs)
        self.decay_rate = float(decay_rate)
        self.clock = clock

    def __call__(self, step: Any) -> tf.Tensor:
        del step  # The rate follows the clock, not the step.
        exponent = self.clock.variable / self.decay_secs
        rate = self.initial_learning_rate * tf.pow(tf.constant(self.decay_rate, tf.float64), exponent)
        return tf.cast(rate, tf.float32)

    def get_config(self) -> dict[str, float]:
        return {
            'initial_learning_rate': self.initial_learning_rate,
            'decay_secs': self.decay_secs,
            'decay_rate': self.decay_rate,
        }
