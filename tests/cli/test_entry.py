"""cli.entry.describe: a library ArgumentError is reported as the flag that set it, from its attributes."""

import pickle

import gin
import pytest
from absl import flags

from clarinet_ddsp.cli import entry
from clarinet_ddsp.errors import ArgumentError

flags.DEFINE_integer('entry_test_shards', None, 'A flag for these tests only.')


def test_argument_error_names_the_function_and_argument():
    error = ArgumentError('prepare_tfrecord', 'num_shards', 0, 'must be a positive number of shards.')
    assert str(error) == 'prepare_tfrecord: num_shards=0 must be a positive number of shards.'
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))  # Beam workers send errors back pickled.
    assert (again.function, again.argument, again.value, str(again)) == (
        'prepare_tfrecord',
        'num_shards',
        0,
        str(error),
    )


def test_describe_words_an_argument_error_as_its_flag():
    error = ArgumentError('f', 'entry_test_shards', 0, 'must be positive.')
    assert entry.describe(error) == '--entry_test_shards=0: must be positive.'
    renamed = ArgumentError('f', 'shards', 0, 'must be positive.')
    assert (
        entry.describe(renamed, {'shards': 'entry_test_shards'}) == '--entry_test_shards=0: must be positive.'
    )
    # An argument no flag sets keeps the library's wording.
    assert entry.describe(ArgumentError('f', 'no_such_flag', 1, 'is bad.')) == 'f: no_such_flag=1 is bad.'


def test_describe_reads_the_attributes_through_gins_wrapper():
    @gin.configurable(module='entry_test')
    def configured(shards=0):
        raise ArgumentError('configured', 'entry_test_shards', shards, 'must be positive.')

    with pytest.raises(ArgumentError) as info:
        configured()
    assert 'In call to configurable' in str(info.value)  # gin appends its context to the text ...
    assert entry.describe(info.value) == '--entry_test_shards=0: must be positive.'  # ... not used here.


def test_describe_words_an_argument_a_gin_binding_set_as_that_binding():
    @gin.configurable(module='entry_test')
    def provider(file_pattern=''):
        raise ArgumentError('provider', 'file_pattern', file_pattern, 'matches no files.')

    gin.parse_config("provider.file_pattern = '/x/none*'")
    try:
        with pytest.raises(ArgumentError) as info:
            provider()
        assert entry.describe(info.value) == "provider.file_pattern='/x/none*' matches no files."
    finally:
        gin.clear_config()
    # Not bound (the default was used, or the function was called from Python): the library's wording.
    assert entry.describe(info.value) == "provider: file_pattern='/x/none*' matches no files."
