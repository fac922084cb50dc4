"""The TFRecord walk finds truncated and damaged records at the byte offsets TensorFlow's reader reports."""

import re
import struct

import pytest
import tensorflow as tf

from clarinet_ddsp.training import data, tfrecord_scan
from tests.training import tiny

PAYLOAD = 100
RECORD = 8 + 4 + PAYLOAD + 4  # length, its CRC, data, data CRC


def _write(path, n=5):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(n):
            writer.write(bytes([i]) * PAYLOAD)
    return path.read_bytes()


def _tf_error_offset(path):
    """The offset in TensorFlow's own DataLossError for this file (the independent reference)."""
    with pytest.raises(tf.errors.DataLossError) as info:
        list(tf.data.TFRecordDataset(str(path)))
    return int(re.search(r'record at (\d+)', info.value.message).group(1))


def test_checksums_match_the_ones_tensorflow_writes(tmp_path):
    raw = _write(tmp_path / 'a.tfrecord', n=1)
    assert struct.unpack('<I', raw[8:12])[0] == tfrecord_scan.masked_crc32c(raw[:8])
    assert struct.unpack('<I', raw[-4:])[0] == tfrecord_scan.masked_crc32c(raw[12:-4])


def test_clean_file_lists_every_record(tmp_path):
    _write(tmp_path / 'a.tfrecord')
    scan = tfrecord_scan.scan_file(str(tmp_path / 'a.tfrecord'))
    assert scan.bad == []
    assert scan.records == [(i * RECORD + 12, PAYLOAD) for i in range(5)]


@pytest.mark.parametrize('check_data', [True, False])
def test_truncated_file_is_found_at_tensorflows_offset(tmp_path, check_data):
    raw = _write(tmp_path / 'a.tfrecord')
    cut = tmp_path / 'cut.tfrecord'
    cut.write_bytes(raw[: 3 * RECORD + 50])  # An interrupted copy.
    scan = tfrecord_scan.scan_file(str(cut), check_data=check_data)
    assert len(scan.records) == 3
    [bad] = scan.bad
    assert bad.offset == 3 * RECORD == _tf_error_offset(cut)
    assert 'truncated' in bad.reason and bad.n_bytes == 50


def test_damaged_data_skips_only_that_record(tmp_path):
    raw = bytearray(_write(tmp_path / 'a.tfrecord'))
    raw[2 * RECORD + 12 + 40] ^= 0xFF
    path = tmp_path / 'flip.tfrecord'
    path.write_bytes(bytes(raw))
    scan = tfrecord_scan.scan_file(str(path), check_data=True)
    # TensorFlow names the data's offset, 12 bytes (length + CRC) after the record's start.
    assert [b.offset for b in scan.bad] == [2 * RECORD] == [_tf_error_offset(path) - 12]
    assert 'data' in scan.bad[0].reason
    assert [offset for offset, _ in scan.records] == [i * RECORD + 12 for i in (0, 1, 3, 4)]
    # The framing alone looks fine: only the data checksum finds it.
    assert tfrecord_scan.scan_file(str(path), check_data=False).bad == []


def test_damaged_length_loses_the_rest_of_the_file(tmp_path):
    raw = bytearray(_write(tmp_path / 'a.tfrecord'))
    raw[1 * RECORD + 2] ^= 0xFF
    path = tmp_path / 'len.tfrecord'
    path.write_bytes(bytes(raw))
    scan = tfrecord_scan.scan_file(str(path), check_data=False)
    assert len(scan.records) == 1
    [bad] = scan.bad
    assert bad.offset == RECORD == _tf_error_offset(path)
    assert bad.n_bytes == 4 * RECORD


def _shards(tmp_path, n_shards=2, n_examples=6):
    return tiny.write_tfrecords(str(tmp_path / 'train.tfrecord'), n_examples=n_examples, n_shards=n_shards)


def test_provider_stops_on_a_truncated_shard_naming_it_and_the_offset(tmp_path):
    pattern = _shards(tmp_path)
    shard = tmp_path / 'train.tfrecord-00001-of-00002'
    raw = shard.read_bytes()
    record = len(raw) // 3
    shard.write_bytes(raw[: record + 100])
    with pytest.raises(data.CorruptRecordError) as info:
        data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS).get_dataset()
    message = str(info.value)
    assert f'{shard} at byte offset {record}: truncated record' in message
    assert 'TFRecordProvider.skip_corrupt=True' in message


def test_skip_corrupt_reads_every_readable_record_and_logs_the_count(tmp_path, caplog):
    pattern = _shards(tmp_path)
    shard = tmp_path / 'train.tfrecord-00001-of-00002'  # examples 1, 3, 5
    raw = bytearray(shard.read_bytes())
    record = len(raw) // 3
    raw[record + 12 + 1000] ^= 0xFF  # example 3's data
    shard.write_bytes(bytes(raw))
    provider = data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS, skip_corrupt=True)
    with caplog.at_level('WARNING'):
        f0s = sorted(round(float(e['f0_hz'][0]), 3) for e in provider.get_dataset(shuffle=True))
    assert f0s == [round(220.0 * (1 + 0.1 * i), 3) for i in (0, 1, 2, 4, 5)]
    assert 'skipping 1 unreadable part(s)' in caplog.text and f'at byte offset {record}' in caplog.text
    # Without the flag, reading stops at that record, naming it (found by reading the data).
    strict = data.TFRecordProvider(pattern, example_secs=tiny.EXAMPLE_SECS)
    with pytest.raises(tf.errors.DataLossError) as info:
        list(strict.get_dataset(shuffle=False))
    error = strict.corruption_error(info.value)
    assert f'{shard} at byte offset {record}: corrupted record data' in str(error)
