"""Walking TFRecord files record by record: truncated or corrupt records, by file and byte offset.

A TFRecord file is a sequence of records, each a uint64 length (little-endian), the masked CRC32C of
those 8 bytes, `length` bytes of data and the masked CRC32C of the data. A copy cut short leaves a
truncated last record; damaged bytes break a checksum.
"""

from __future__ import annotations

import dataclasses
import struct

import google_crc32c
import tensorflow as tf

_HEADER = 12  # length (8) + its CRC (4)
_FOOTER = 4  # the data's CRC
_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC32C rotated right by 15 bits plus a constant (mod 2**32)."""
    crc = google_crc32c.value(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


@dataclasses.dataclass(frozen=True)
class BadRecord:
    """A record that cannot be read: where it starts, why, and how many bytes are lost with it."""

    path: str
    offset: int  # byte offset of the record's start in the file
    reason: str
    n_bytes: int  # bytes skipped from offset: the record, or the rest of the file

    def __str__(self) -> str:
        return f'{self.path} at byte offset {self.offset}: {self.reason} ({self.n_bytes} bytes skipped)'


@dataclasses.dataclass
class FileScan:
    """The readable records of one file, as (data offset, data length), and the bad ones."""

    path: str
    size: int
    records: list[tuple[int, int]]
    bad: list[BadRecord]


def scan_file(path: str, check_data: bool = True) -> FileScan:
    """Walks a TFRecord file's framing.

    Args:
        path: a TFRecord file (uncompressed), local or on any filesystem tf.io.gfile reads.
        check_data: also read every record's data and check its CRC (reads the whole file); False checks
            only the lengths and their CRCs (a few bytes per record: finds truncated and mangled files).

    Returns:
        FileScan. After a broken length field the rest of the file cannot be framed and is one BadRecord;
        a record whose data alone is corrupt is skipped and the walk goes on with the next one.
    """
    size = tf.io.gfile.stat(path).length
    records: list[tuple[int, int]] = []
    bad: list[BadRecord] = []
    offset = 0
    with tf.io.gfile.GFile(path, 'rb') as f:
        while offset < size:
            rest = size - offset
            if rest < _HEADER:
                bad.append(BadRecord(path, offset, f'truncated record header ({rest} of 12 bytes)', rest))
                break
            f.seek(offset)
            header = f.read(_HEADER)
            if struct.unpack('<I', header[8:])[0] != masked_crc32c(header[:8]):
                bad.append(BadRecord(path, offset, 'corrupted record length (checksum mismatch)', rest))
                break
            length = struct.unpack('<Q', header[:8])[0]
            end = offset + _HEADER + length + _FOOTER
            if end > size:
                bad.append(
                    BadRecord(
                        path, offset, f'truncated record ({rest} of {end - offset} bytes present)', rest
                    )
                )
                break
            if check_data:
                payload = f.read(length)
                footer = f.read(_FOOTER)
                if struct.unpack('<I', footer)[0] != masked_crc32c(payload):
                    bad.append(
                        BadRecord(path, offset, 'corrupted record data (checksum mismatch)', end - offset)
                    )
                    offset = end
                    continue
            records.append((offset + _HEADER, length))
            offset = end
    return FileScan(path, size, records, bad)


def read_record(path: str, data_offset: int, length: int) -> bytes:
    """One record's data bytes (from a FileScan's records)."""
    with tf.io.gfile.GFile(path, 'rb') as f:
        f.seek(data_offset)
        return f.read(length)
