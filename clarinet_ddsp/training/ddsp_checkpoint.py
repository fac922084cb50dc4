"""Checkpoints written by magenta/ddsp (tf.keras) restored into this package's Keras 3 models.

A checkpoint stores each variable under the path of attribute names that leads to it from the saved
root. ddsp's paths are tf.keras's (`model/decoder/input_stacks/0/layer_with_weights-0/layer_with_weights-0/
kernel`: a list of Sequentials), ours Keras 3's (`model/decoder/input_stack_0/fc_0/dense/_kernel`), so
tf.train.Checkpoint cannot match them. Both libraries create a model's variables in the same order with
the same shapes (the parity tier checks it, and the model parity tests load ddsp's weights by position),
so the variables are matched by creation order; each pair must agree in shape and in its leaf name
(kernel, bias, gamma, ...). The optimizer's Adam moments and step follow where they map: tf.keras's Adam
(TF >= 2.11) keeps [step, m_0, v_0, m_1, v_1, ...] in `optimizer/_variables`; its legacy Adam (older TF)
keeps slots `m` and `v` on each variable. Otherwise the optimizer starts fresh, and the log says so.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.protobuf import trackable_object_graph_pb2

from clarinet_ddsp.training import checkpointing

_GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH'
_VALUE = 'VARIABLE_VALUE'


class CheckpointMismatchError(ValueError):
    """A checkpoint whose variables do not fit the model; the message names them."""


@dataclasses.dataclass(frozen=True)
class StoredVariable:
    """One variable of a checkpoint: its object path, checkpoint key and shape."""

    path: str
    key: str
    shape: tuple[int, ...]
    node_id: int

    @property
    def leaf(self) -> str:
        return _leaf(self.path)


@dataclasses.dataclass
class RestoreSummary:
    """What restore() took from a ddsp checkpoint."""

    checkpoint: str
    n_variables: int
    optimizer: str  # what happened to the optimizer, one line
    step: int | None  # the restored step, None when it starts fresh


def _leaf(path: str) -> str:
    return path.rsplit('/', 1)[-1].lstrip('_')


class _ObjectGraph:
    """The object graph of a checkpoint: paths of attribute names -> nodes -> stored tensors."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.reader = checkpointing.checkpoint_reader(prefix)
        self.shapes = self.reader.get_variable_to_shape_map()
        self.graph = trackable_object_graph_pb2.TrackableObjectGraph()
        self.graph.ParseFromString(self.reader.get_tensor(_GRAPH_KEY))

    def children(self, node_id: int) -> dict[str, int]:
        return {c.local_name: c.node_id for c in self.graph.nodes[node_id].children}

    def node(self, path: str) -> int | None:
        node_id = 0
        for name in path.split('/'):
            node_id = self.children(node_id).get(name)
            if node_id is None:
                return None
        return node_id

    def key(self, node_id: int) -> str | None:
        for attribute in self.graph.nodes[node_id].attributes:
            if attribute.name == _VALUE and attribute.checkpoint_key in self.shapes:
                return attribute.checkpoint_key
        return None

    def variable(self, path: str) -> StoredVariable | None:
        node_id = self.node(path)
        key = None if node_id is None else self.key(node_id)
        if key is None:
            return None
        return StoredVariable(path, key, tuple(self.shapes[key]), node_id)

    def variables_under(self, path: str) -> list[StoredVariable]:
        """The variables below `path` in creation order: depth first, children in their stored order."""
        start = self.node(path)
        if start is None:
            return []
        found, seen = [], set()

        def visit(node_id: int, node_path: str) -> None:
            if node_id in seen:
                return
            seen.add(node_id)
            key = self.key(node_id)
            if key is not None:
                found.append(StoredVariable(node_path, key, tuple(self.shapes[key]), node_id))
            for child in self.graph.nodes[node_id].children:
                visit(child.node_id, f'{node_path}/{child.local_name}')

        visit(start, path)
        return found

    def value(self, variable: StoredVariable) -> np.ndarray:
        return self.reader.get_tensor(variable.key)

    def is_keras3(self) -> bool:
        """Written by Keras 3 (this package): Dense kernels are `_kernel`, optimizers hold their variables."""
        for node in self.graph.nodes:
            if any(c.local_name in ('_kernel', '_trainable_variables') for c in node.children):
                return True
        return False


def our_variable_paths(root, root_name: str = 'model') -> dict[int, str]:
    """id(variable) -> the shortest path of attribute names from root, as a checkpoint stores it."""
    view = tf.train.TrackableView(root)
    paths: dict[int, str] = {}
    queue = collections.deque([(root, root_name)])
    seen = {id(root)}
    while queue:
        obj, path = queue.popleft()
        for name, child in view.children(obj).items():
            if isinstance(child, tf.Variable) or _is_keras_variable(child):
                paths.setdefault(id(child), f'{path}/{name}')
            elif id(child) not in seen:
                seen.add(id(child))
                queue.append((child, f'{path}/{name}'))
    return paths


def _is_keras_variable(obj) -> bool:
    import keras

    return isinstance(obj, keras.Variable)


def _submodules(model, restore_keys: Sequence[str] | None) -> list[tuple[str, object]]:
    if not restore_keys:
        return [('model', model)]
    return [(f'model/{key}', getattr(model, key)) for key in restore_keys]


def fits_natively(prefix: str, model, restore_keys: Sequence[str] | None = None) -> bool:
    """True if every variable of the model (or of its restore_keys submodules) is stored under its own
    path with its shape: a checkpoint this package wrote for this model."""
    graph = _ObjectGraph(prefix)
    for root_path, module in _submodules(model, restore_keys):
        paths = our_variable_paths(module, root_path)
        for variable in module.weights:
            stored = graph.variable(paths.get(id(variable), ''))
            if stored is None or stored.shape != tuple(variable.shape):
                return False
    return True


def is_ddsp_checkpoint(prefix: str) -> bool:
    """True for a checkpoint written by tf.keras (magenta/ddsp), False for one of this package's."""
    return not _ObjectGraph(prefix).is_keras3()


def _match(
    graph: _ObjectGraph, model, restore_keys: Sequence[str] | None
) -> list[tuple[StoredVariable, object, str]]:
    """Pairs the checkpoint's variables with the model's by creation order, shape and leaf name.

    Raises:
        CheckpointMismatchError: the sequences differ, naming the variables missing from the checkpoint,
            the ones it has in excess and the misshapen pairs.
    """
    pairs, problems = [], []
    for root_path, module in _submodules(model, restore_keys):
        stored = graph.variables_under(root_path)
        ours = list(module.weights)
        paths = our_variable_paths(module, root_path)
        our_paths = [paths.get(id(v), f'{root_path}/?{v.path}') for v in ours]

        def describe(path, shape):
            return f'{path} {list(shape)}'

        a = [(s.leaf, s.shape) for s in stored]
        b = [(_leaf(p), tuple(v.shape)) for p, v in zip(our_paths, ours)]
        matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == 'equal':
                pairs.extend((stored[i], ours[j], our_paths[j]) for i, j in zip(range(i1, i2), range(j1, j2)))
                continue
            if tag == 'replace' and i2 - i1 == j2 - j1:
                problems.extend(
                    f'misshapen: {describe(stored[i].path, stored[i].shape)} in the checkpoint, '
                    f'{describe(our_paths[j], ours[j].shape)} in the model'
                    for i, j in zip(range(i1, i2), range(j1, j2))
                )
                continue
            problems.extend(
                f'only in the checkpoint: {describe(stored[i].path, stored[i].shape)}' for i in range(i1, i2)
            )
            problems.extend(
                f'missing from the checkpoint: {describe(our_paths[j], ours[j].shape)}' for j in range(j1, j2)
            )
        if not stored:
            problems.insert(0, f'the checkpoint has no variables under {root_path}')
    if problems:
        shown = problems[:20] + ([f'... and {len(problems) - 20} more'] if len(problems) > 20 else [])
        raise CheckpointMismatchError(
            f'{graph.prefix}: this ddsp checkpoint does not fit the model '
            f'({len(problems)} difference(s)):\n  '
            + '\n  '.join(shown)
            + '\nBuild the model the run was trained with: its operative_config-<step>.gin (or the same '
            'gin files and bindings) sets the sizes; or restore only some parts with Trainer.restore_keys.'
        )
    return pairs


def restore(model, prefix: str, optimizer=None, restore_keys: Sequence[str] | None = None) -> RestoreSummary:
    """Loads a ddsp checkpoint into a built model (and its Adam optimizer, where its moments map).

    Args:
        model: a built model (its variables exist) configured as the ddsp run was.
        prefix: the checkpoint, …/ckpt-<step>.
        optimizer: a built Keras 3 Adam over model.trainable_variables, or None (model only).
        restore_keys: model attributes to restore (e.g. ['decoder']); None restores the whole model.

    Returns:
        What was restored.

    Raises:
        CheckpointMismatchError: the checkpoint's variables do not fit the model (naming them).
    """
    graph = _ObjectGraph(prefix)
    pairs = _match(graph, model, restore_keys)
    for stored, variable, _ in pairs:
        variable.assign(graph.value(stored))
    optimizer_note, step = 'not restored (model only)', None
    if optimizer is not None and not restore_keys:
        optimizer_note, step = _restore_optimizer(graph, model, optimizer, pairs)
    logging.info(
        'Restored %d variables from the ddsp (tf.keras) checkpoint %s, matched by creation order; '
        'optimizer: %s.',
        len(pairs),
        prefix,
        optimizer_note,
    )
    return RestoreSummary(prefix, len(pairs), optimizer_note, step)


def _restore_optimizer(graph: _ObjectGraph, model, optimizer, pairs) -> tuple[str, int | None]:
    """Adam moments and step from either tf.keras optimizer layout; a reason when they start fresh."""
    momentums = getattr(optimizer, '_momentums', None)
    velocities = getattr(optimizer, '_velocities', None)
    trainable = list(model.trainable_variables)
    if momentums is None or velocities is None or len(momentums) != len(trainable):
        return f'{type(optimizer).__name__} is not a built Adam; it starts fresh at step 0', None
    index = {id(v): t for t, v in enumerate(trainable)}
    by_node = {stored.node_id: index.get(id(variable)) for stored, variable, _ in pairs}
    slots: dict[int, dict[str, StoredVariable]] = collections.defaultdict(dict)

    step_var = graph.variable('optimizer/iter') or graph.variable('optimizer/_iterations')
    legacy = graph.node('optimizer') is not None and graph.graph.nodes[graph.node('optimizer')].slot_variables
    if legacy:  # tf.keras's legacy optimizers: slots m and v attached to each model variable.
        for ref in legacy:
            t = by_node.get(ref.original_variable_node_id)
            key = graph.key(ref.slot_variable_node_id)
            if t is not None and key is not None and ref.slot_name in ('m', 'v'):
                slots[t][ref.slot_name] = StoredVariable(
                    f'slot {ref.slot_name}', key, tuple(graph.shapes[key]), ref.slot_variable_node_id
                )
    else:  # tf.keras's optimizers since TF 2.11: [step, m_0, v_0, m_1, v_1, ...].
        listed = graph.variables_under('optimizer/_variables')
        by_position = {int(v.path.rsplit('/', 1)[1]): v for v in listed if v.path.rsplit('/', 1)[1].isdigit()}
        n_slots = max(by_position, default=0)
        if n_slots == 2 * len(trainable):
            for t in range(len(trainable)):
                if 1 + 2 * t in by_position and 2 + 2 * t in by_position:
                    slots[t] = {'m': by_position[1 + 2 * t], 'v': by_position[2 + 2 * t]}
    if step_var is None:
        return 'the checkpoint holds no optimizer step; it starts fresh at step 0', None
    fits = len(slots) == len(trainable) and all(
        set(slots[t]) == {'m', 'v'}
        and all(slots[t][k].shape == tuple(trainable[t].shape) for k in ('m', 'v'))
        for t in range(len(trainable))
    )
    if not fits:
        return (
            f"the checkpoint's optimizer moments do not map onto the {len(trainable)} trainable "
            'variables (another optimizer or layout); Adam starts fresh at step 0',
            None,
        )
    for t in range(len(trainable)):
        momentums[t].assign(graph.value(slots[t]['m']))
        velocities[t].assign(graph.value(slots[t]['v']))
    step = int(graph.value(step_var))
    optimizer.iterations.assign(step)
    return f'Adam moments of {len(trainable)} variables and step {step} restored', step
