"""Data preparation: audio files -> TFRecords with CREPE f0 and loudness (ddsp's prepare_tfrecord), and
the embedded default dataset (a physical-model clarinet).

    from clarinet_ddsp.data_prep import prepare_tfrecord, find_audio_files
    prepare_tfrecord(find_audio_files(['notes/*.wav']), '/tmp/t/train.tfrecord', num_shards=8)
"""

from clarinet_ddsp.data_prep.audio_io import (
    AudioFileInfo,
    BadAudioFileError,
    BadAudioFilesError,
    find_audio_files,
    iter_audio_blocks,
    load_audio,
    validate_audio_file,
)

_PIPELINE_NAMES = ('PrepareResult', 'prepare_tfrecord', 'runner_options')


def __getattr__(name: str):
    # The Beam pipeline is imported when first used: audio loading (inference) needs no Apache Beam.
    if name in _PIPELINE_NAMES:
        from clarinet_ddsp.data_prep import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'AudioFileInfo',
    'BadAudioFileError',
    'BadAudioFilesError',
    'PrepareResult',
    'find_audio_files',
    'iter_audio_blocks',
    'load_audio',
    'prepare_tfrecord',
    'runner_options',
    'validate_audio_file',
]
