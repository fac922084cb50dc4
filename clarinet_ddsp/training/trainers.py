"""Trainer: binds model, Adam with exponential learning-rate decay, gradient clipping and a strategy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import gin
import keras
import tensorflow as tf
from absl import logging

from clarinet_ddsp.training import checkpointing, distribution, schedules


@gin.configurable(module='trainers')
class Trainer:
    """Runs distributed training steps and saves/restores model + optimizer checkpoints."""

    def __init__(
        self,
        model: keras.Model,
        strategy: tf.distribute.Strategy | None = None,
        checkpoints_to_keep: int = 100,
        learning_rate: float = 0.001,
        lr_decay_steps: int = 10000,
        lr_decay_rate: float = 0.98,
        lr_decay_secs: float | None = None,
        grad_clip_norm: float = 3.0,
        restore_keys: Sequence[str] | None = None,
    ) -> None:
        """Constructor.

        Args:
            model: the Model to train.
            strategy: a tf.distribute strategy; None -> the default (no-op) strategy.
            checkpoints_to_keep: newest checkpoints kept in save_dir.
            learning_rate: initial Adam learning rate.
            lr_decay_steps: exponential decay time scale in steps.
            lr_decay_rate: decay factor per lr_decay_steps (or per lr_decay_secs).
            lr_decay_secs: decay per this many seconds of training instead of per lr_decay_steps, so a
                wall-clock budget ends at the same rate on a slow machine as on a fast one; the seconds
                are saved in the checkpoint and resumed runs count on (schedules.WallClockDecay).
            grad_clip_norm: global gradient norm clip.
            restore_keys: model attributes to restore (e.g. ['decoder']); None restores everything.
        """
        for name, value in (
            ('learning_rate', learning_rate),
            ('lr_decay_steps', lr_decay_steps),
            ('grad_clip_norm', grad_clip_norm),
            ('checkpoints_to_keep', checkpoints_to_keep),
            *((('lr_decay_secs', lr_decay_secs),) if lr_decay_secs is not None else ()),
        ):
            if not value > 0:
                raise ValueError(f'Trainer: {name}={value} must be > 0; set Trainer.{name}.')
        self.model = model
        self.strategy = strategy or tf.distribute.get_strategy()
        if lr_decay_secs is not None and isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise ValueError(
                f'Trainer: lr_decay_secs={lr_decay_secs} with several workers: each would step with the '
                'rate of its own clock and their weights would drift apart; decay per step with '
                'Trainer.lr_decay_steps (and Trainer.lr_decay_secs = None) instead.'
            )
        self.checkpoints_to_keep = int(checkpoints_to_keep)
        self.learning_rate = learning_rate
        self.grad_clip_norm = float(grad_clip_norm)
        self.restore_keys = list(restore_keys) if restore_keys else None
        with self.strategy.scope():
            # Seconds of training, when the rate decays with them (None: it decays per step).
            self.clock: schedules.TrainingClock | None = None
            schedule: keras.optimizers.schedules.LearningRateSchedule
            if lr_decay_secs is not None:
                self.clock = schedules.TrainingClock()
                schedule = schedules.WallClockDecay(learning_rate, lr_decay_secs, lr_decay_rate, self.clock)
            else:
                schedule = keras.optimizers.schedules.ExponentialDecay(
                    initial_learning_rate=learning_rate, decay_steps=lr_decay_steps, decay_rate=lr_decay_rate
                )
            self.optimizer = keras.optimizers.Adam(schedule)
        self._manager: checkpointing.AtomicCheckpointManager | None = None
        self._train_step = tf.function(self._distributed_step)

    # ---- Checkpoints ----------------------------------------------------------------------------
    def get_checkpoint(self, model: keras.Model | None = None) -> tf.train.Checkpoint:
        """A checkpoint of the model (or another one), the optimizer and the seconds of training."""
        objects = {'model': model or self.model, 'optimizer': self.optimizer}
        if self.clock is not None:
            objects[schedules.CHECKPOINT_KEY] = self.clock.variable
        return tf.train.Checkpoint(**objects)

    def save(self, save_dir: str) -> str:
        """Saves model + optimizer as save_dir/ckpt-<step>; returns the prefix."""
        start = time.time()
        if self._manager is None or self._manager.directory != checkpointing.expand_path(save_dir):
            self._manager = checkpointing.AtomicCheckpointManager(
                self.get_checkpoint(), save_dir, self.checkpoints_to_keep
            )
        if self.clock is not None:
            self.clock.tick()  # The checkpoint holds the seconds up to this save.
        step = int(self.step.numpy())
        path = self._manager.save(step)
        logging.info('Saved checkpoint %s (%.1f s)', path, time.time() - start)
        return path

    def restore(self, checkpoint_path: str, restore_keys: Sequence[str] | None = None) -> str:
        """Restores model and optimizer, or (restore_keys) only those submodules of the model.

        Raises:
            FileNotFoundError: no complete checkpoint at checkpoint_path.
            ValueError: the checkpoint does not fit the model, or restore_keys names no attribute of it.
        """
        start = time.time()
        restore_keys = list(restore_keys) if restore_keys else self.restore_keys
        if restore_keys is None:
            logging.info('Trainer restoring the full model and optimizer from %s', checkpoint_path)
        else:
            # A warm start: only these submodules; the optimizer (which also references every model
            # variable in Keras 3) and the step start afresh.
            logging.info('Trainer restoring only %s from %s', restore_keys, checkpoint_path)
        with self.strategy.scope():
            latest = checkpointing.restore_model(
                self.model,
                checkpoint_path,
                restore_keys=restore_keys,
                verbose=restore_keys is None,
                optimizer=self.optimizer if restore_keys is None else None,
            )
        if self.clock is not None and restore_keys is None:
            self.clock.restore(latest)
        logging.info('Loaded checkpoint %s (%.1f s)', latest, time.time() - start)
        return latest

    @property
    def current_learning_rate(self) -> float:
        """The rate the next step uses."""
        return float(self.optimizer.learning_rate.numpy())

    # ---- Training -------------------------------------------------------------------------------
    @property
    def step(self) -> tf.Variable:
        """Training steps completed (the optimizer's iteration count)."""
        return self.optimizer.iterations

    def distribute_dataset(self, dataset: Any) -> Any:
        """The dataset split over the strategy's replicas (as it is with one device, or if not a Dataset)."""
        if not isinstance(dataset, tf.data.Dataset):
            return dataset
        if distribution.is_default_strategy(self.strategy):
            return dataset  # One device, no strategy: nothing to distribute.
        if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            dataset = dataset.with_options(options)
        return self.strategy.experimental_distribute_dataset(dataset)

    def build(self, batch: Mapping[str, tf.Tensor]) -> None:
        """Creates the model's and optimizer's variables by running one batch forward."""
        logging.info('Building the model...')
        if distribution.is_default_strategy(self.strategy):
            # Eagerly: a traced graph here would be traced again, with the gradients, by train_step.
            self.model(batch, training=True)
        else:
            self.strategy.run(tf.function(lambda b: self.model(b, training=True)), args=(batch,))
        with self.strategy.scope():
            self.optimizer.build(self.model.trainable_variables)

    def psum(self, x: Any, axis: int | None = None) -> tf.Tensor:
        """Sum of a per-replica value over the replicas."""
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, x, axis=axis)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """fn on every replica (strategy.run)."""
        return self.strategy.run(fn, args=args, kwargs=kwargs)

    def train_step(self, inputs: Iterator[Any] | Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """One step on the next batch of an iterator (or on a batch); returns replica-averaged losses."""
        if self.clock is not None:
            self.clock.tick()
        return self._train_step(inputs)

    def _distributed_step(self, inputs: Iterator[Any] | Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        batch = next(inputs) if hasattr(inputs, '__next__') else inputs
        losses = self.strategy.run(self.step_fn, args=(batch,))
        n_replicas = self.strategy.num_replicas_in_sync
        return {k: self.psum(v) / n_replicas for k, v in losses.items()}

    def step_fn(self, batch: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Per-replica step: forward, gradients clipped to grad_clip_norm, Adam update."""
        with tf.GradientTape() as tape:
            _, losses = self.model(batch, return_losses=True, training=True)
        variables = self.model.trainable_variables
        grads = tape.gradient(losses['total_loss'], variables)
        grads, _ = tf.clip_by_global_norm(grads, self.grad_clip_norm)
        self.optimizer.apply_gradients(zip(grads, variables))
        return losses


@gin.configurable(module='trainers')
def get_trainer_class(trainer_class: type[Trainer] = Trainer) -> type[Trainer]:
    """The trainer class the gin config names."""
    return trainer_class
