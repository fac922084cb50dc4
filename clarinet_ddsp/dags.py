"""DAGLayer: runs modules in a listed order, routing nested dict outputs by 'module/key' paths."""

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from absl import logging

from clarinet_ddsp import core

TensorDict = dict[str, Any]
Node = Sequence[Any]  # [module or name, [input keys], optional [output keys]]
DAG = Sequence[Node]


def is_module(value: Any) -> bool:
    """Keras layers (Keras 3 layers are not tf.Module) and tf.Modules count as modules."""
    return isinstance(value, (keras.layers.Layer, tf.Module))


def is_loss(value: Any) -> bool:
    """Duck typing: a loss has get_losses_dict()."""
    return hasattr(value, 'get_losses_dict')


def is_processor(value: Any) -> bool:
    """Duck typing: a processor has get_controls() and get_signal()."""
    return hasattr(value, 'get_signal') and hasattr(value, 'get_controls')


def split_keras_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits 'training', 'mask' and 'name' (when not None) from the other kwargs."""
    keras_kwargs = {}
    for key in ['training', 'mask', 'name']:
        if kwargs.get(key) is not None:
            keras_kwargs[key] = kwargs.pop(key)
        else:
            kwargs.pop(key, None)
    return keras_kwargs, kwargs


class DAGLayer(keras.layers.Layer):
    """Strings modules together according to a DAG given as a list of nodes.

    Each node is [module, [input_key, ...]] or [module, [input_key, ...], [output_key, ...]]:
    `module` is a layer instance or the name of one passed as a kwarg; input keys are nested
    'module/key' paths into the outputs so far ('inputs/f0_hz', or 'f0_hz' directly); output keys
    name the values of a module that does not return a dict. Nodes run in order (the list must be
    topologically sorted); each node's outputs are stored under its module name, and the last
    node's outputs also under 'out'.
    """

    def __init__(self, dag: DAG, **kwarg_modules: Any) -> None:
        """Builds the layer.

        Args:
            dag: list of nodes, see the class docstring.
            **kwarg_modules: modules referred to by name in the dag, plus keras kwargs ('name').

        Raises:
            ValueError: for a malformed node, an unknown module name, or a module name that would
                shadow a Keras attribute.
        """
        keras_kwargs, kwarg_modules = split_keras_kwargs(dict(kwarg_modules))
        keras_kwargs.pop('training', None)
        keras_kwargs.pop('mask', None)
        super().__init__(**keras_kwargs)

        modules = {k: v for k, v in kwarg_modules.items() if is_module(v)}
        dag, dag_modules = self.format_dag(dag)
        modules.update(dag_modules)

        for node in dag:
            if node[0] not in modules:
                raise ValueError(
                    f'{type(self).__name__}: dag node {node} names module {node[0]!r}, which is '
                    f'neither a module in the dag nor a keyword argument (have: {list(modules)}); '
                    'pass the module instance in the node or as a keyword argument of that name.'
                )

        self.dag = dag
        self.module_names = list(modules.keys())
        for module_name, module in modules.items():
            if hasattr(type(self), module_name):
                raise ValueError(
                    f'{type(self).__name__}: a module is named {module_name!r}, which is also an '
                    'attribute of the layer; give the module another name.'
                )
            setattr(self, module_name, module)
        # No build-time state: skip Keras's symbolic build pass.
        self.built = True

    @property
    def modules(self) -> list[Any]:
        """The modules, in the order they were registered."""
        return [getattr(self, name) for name in self.module_names]

    @staticmethod
    def format_dag(dag: DAG) -> tuple[list[list[Any]], dict[str, Any]]:
        """Replaces module instances in the dag by their names; returns (dag, {name: module})."""
        modules = {}
        formatted = []
        for i, node in enumerate(list(dag)):
            node = list(node)
            if len(node) not in (2, 3) or isinstance(node[1], str):
                raise ValueError(
                    f'dag node {i} = {node} is malformed; give [module, [input_key, ...]] or '
                    '[module, [input_key, ...], [output_key, ...]] (input keys in a list).'
                )
            if is_module(node[0]):
                modules[node[0].name] = node[0]
                node[0] = node[0].name
            formatted.append(node)
        return formatted, modules

    def call(self, inputs: TensorDict, **kwargs: Any) -> TensorDict:
        """Runs the dag on a dict of inputs."""
        return self.run_dag(inputs, **kwargs)

    def run_dag(self, inputs: TensorDict, verbose: bool = False, **kwargs: Any) -> TensorDict:
        """Runs each node in order and returns the nested dict of all outputs.

        Args:
            inputs: dict of input tensors, available as 'inputs/<key>' and '<key>'.
            verbose: log the shapes going in and out of each module.
            **kwargs: passed to every module (e.g. training).
        """
        outputs = {'inputs': inputs}
        outputs.update(inputs)  # ddsp also exposes inputs at the top level.
        module_outputs = {}
        for node in self.dag:
            module_key, input_keys = node[0], node[1]
            module = getattr(self, module_key)
            output_keys = node[2] if len(node) > 2 else None
            node_inputs = [core.nested_lookup(key, outputs) for key in input_keys]
            if verbose:
                logging.info(
                    'Module %s <- %s: %s',
                    module_key,
                    input_keys,
                    tf.nest.map_structure(lambda x: list(x.shape), node_inputs),
                )
            if is_processor(module):
                module_outputs = module(*node_inputs, return_outputs_dict=True, **kwargs)
            elif is_loss(module):
                module_outputs = module.get_losses_dict(*node_inputs, **kwargs)
            else:
                module_outputs = module(*node_inputs, **kwargs)
            if not isinstance(module_outputs, dict):
                module_outputs = core.to_dict(module_outputs, output_keys)
            outputs[module_key] = module_outputs
        outputs['out'] = module_outputs
        return outputs
