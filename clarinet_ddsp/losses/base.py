"""The Loss base class, LossGroup (losses routed from an outputs dict) and mean_difference."""

from typing import Any

import gin
import keras
import tensorflow as tf

from clarinet_ddsp import core, dags

TensorDict = dict[str, Any]
LOSS_TYPES = ('L1', 'L2', 'COSINE')


def check_loss_type(owner: str, loss_type: str) -> str:
    if not isinstance(loss_type, str) or loss_type.upper() not in LOSS_TYPES:
        raise ValueError(f'{owner}: loss_type={loss_type!r} is not supported; use one of {list(LOSS_TYPES)}.')
    return loss_type.upper()


class Loss(keras.layers.Layer):
    """Base class. Duck typing: a loss implements get_losses_dict()."""

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if type(self).build is keras.layers.Layer.build:
            self.built = True  # Nothing to build: skip Keras's symbolic build pass.

    def get_losses_dict(self, *args: Any, **kwargs: Any) -> TensorDict:
        """{name: scalar loss}; a loss whose call returns a dict of named terms returns that dict."""
        loss = self(*args, **kwargs)
        return dict(loss) if isinstance(loss, dict) else {self.name: loss}


@gin.register(module='losses')
class LossGroup(dags.DAGLayer):
    """Computes a group of losses from an outputs dict, routed by a dag of [loss, [input keys]].

    The loss modules are available as `loss_modules` (Keras reserves `losses`).
    """

    def __init__(self, dag: dags.DAG, **kwarg_losses: Any) -> None:
        super().__init__(dag, **kwarg_losses)
        self.loss_names = self.module_names

    @property
    def loss_modules(self) -> list[Any]:
        return [getattr(self, name) for name in self.loss_names]

    # ddsp's parameter name (outputs) differs from DAGLayer.call's; Keras passes it by position.
    def call(self, outputs: TensorDict, **kwargs: Any) -> TensorDict:  # type: ignore[override]
        """A flat {loss name: scalar} dict."""
        dag_outputs = self.run_dag(outputs, **kwargs)
        loss_outputs = {}
        for k in self.loss_names:
            loss_outputs.update(dag_outputs[k])
        return loss_outputs

    def get_losses_dict(self, outputs: TensorDict, **kwargs: Any) -> TensorDict:
        return self(outputs, **kwargs)


def mean_difference(
    target: tf.Tensor, value: tf.Tensor, loss_type: str = 'L1', weights: tf.Tensor | None = None
) -> tf.Tensor:
    """Mean L1 / L2 difference, or cosine distance along the last axis.

    COSINE follows tf.compat.v1.losses.cosine_distance (ddsp 3.7.0 calls `tf.losses.
    cosine_distance`, which no longer exists): mean over the other axes of
    1 - sum(target * value, axis=-1), weighted, divided by the number of non-zero weights.

    Raises:
        ValueError: for an unknown loss_type.
    """
    loss_type = check_loss_type('mean_difference', loss_type)
    difference = target - value
    if loss_type == 'L1':
        return tf.reduce_mean(tf.abs(difference * (1.0 if weights is None else weights)))
    if loss_type == 'L2':
        return tf.reduce_mean(difference**2 * (1.0 if weights is None else weights))
    losses = 1.0 - tf.reduce_sum(target * value, axis=-1, keepdims=True)
    if weights is None:
        return tf.reduce_mean(losses)
    weights = tf.broadcast_to(core.tf_float32(weights), tf.shape(losses))
    n_present = tf.reduce_sum(tf.cast(tf.not_equal(weights, 0.0), tf.float32))
    return core.safe_divide(tf.reduce_sum(losses * weights), n_present)
