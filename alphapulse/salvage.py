"""Lines of a plain, gzip or zstd file, read past damage, with the damage counted.

Captures and recordings are read to check them, so a reader must never report a damaged
file as whole, and should recover every record it can. What can be recovered depends on
the compression:

- **zstd** (our captures: one independent frame per flush). A frame that fails to decode
  is skipped: reading resumes at the next frame magic, so one flipped byte costs one
  frame. Frames are held back until they end (up to ``_HOLD`` bytes) so a frame that fails
  its checksum yields nothing. A file that ends inside a frame (a torn write) keeps the
  complete records decoded before the tear; whatever followed is gone and cannot be
  counted. A file cut exactly at a frame boundary cannot be told from a whole one.
- **gzip** (the shared recordings: usually one member for the whole file). A tear keeps
  every complete record before it. Deflate cannot resume inside a member after corrupt
  data, so reading resumes at the next member, if any; the rest of a damaged member is
  skipped. A member is held back like a zstd frame up to ``_HOLD`` bytes, beyond which its
  records are released before its CRC is known (memory stays bounded).
- **plain**: every line stands alone; a damaged line is one unreadable record and a line
  without its newline at the end of the file is a torn record.

Damage is counted as records and bytes: the records known lost (incomplete lines, lines
of a discarded frame, records that fail to parse) and the bytes that did not become
records (file bytes skipped to resume, plus the bytes of incomplete lines). Records that
were inside skipped compressed data are not counted: nothing says how many there were.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b\x08"
_SKIPPABLE_MAGIC = 0x184D2A50  # zstd skippable frames: 0x184D2A5?, little-endian
_CHUNK = 1 << 16
_HOLD = 32 << 20
_MAX_LINE = 64 << 20
_SAMPLES = 20


@dataclass
class Damage:
    """What a reader could not read; ``samples`` holds the first few places, one line each."""

    lost_records: int = 0
    malformed_records: int = 0
    unreadable_bytes: int = 0
    places: int = 0
    samples: list[str] = field(default_factory=list)

    @property
    def unreadable_records(self) -> int:
        return self.lost_records + self.malformed_records

    @property
    def found(self) -> bool:
        return self.places > 0

    def note(self, where: str, what: str, *, nbytes: int = 0, records: int = 0) -> None:
        self.places += 1
        self.unreadable_bytes += nbytes
        self.lost_records += records
        if len(self.samples) < _SAMPLES:
            self.samples.append(f"{where}: {what}")

    def malformed(self, lineno: int, what: str, nbytes: int) -> None:
        self.note(f"line {lineno:,}", what, nbytes=nbytes)
        self.malformed_records += 1


class _Decoder(Protocol):
    def decompress(self, data: bytes, /) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


@dataclass(frozen=True)
class _Codec:
    unit: str  # what one independently decodable piece is called, for messages
    magic: bytes
    decoder: Callable[[], _Decoder]
    errors: tuple[type[Exception], ...]
    has_skippable_frames: bool = False


_ZSTD = _Codec(
    "zstd frame",
    ZSTD_MAGIC,
    lambda: zstandard.ZstdDecompressor().decompressobj(),
    (zstandard.ZstdError,),
    has_skippable_frames=True,
)
_GZIP = _Codec("gzip member", GZIP_MAGIC, lambda: zlib.decompressobj(31), (zlib.error,))


class Lines:
    """Iterates ``(line number, line)`` over the non-blank lines of a file.

    Line numbers count the lines that could be decoded, blank ones included.
    ``bytes_read`` follows the position in the (compressed) file for progress displays.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self.bytes_read = 0
        self.compression = "plain"
        self.damage = Damage()

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        with self.path.open("rb") as f:
            magic = f.read(4)
            f.seek(0)
            if magic.startswith(ZSTD_MAGIC):
                self.compression = "zstd"
                pieces = self._decode(f, _ZSTD)
            elif magic.startswith(GZIP_MAGIC):
                self.compression = "gzip"
                pieces = self._decode(f, _GZIP)
            else:
                pieces = self._plain(f)
            yield from self._split(pieces)

    def _split(self, pieces: Iterator[bytes | None]) -> Iterator[tuple[int, bytes]]:
        """Lines of the decoded pieces; ``None`` marks a break in the data (skipped damage),
        where a line in progress is lost rather than glued to what follows."""
        lineno = 0
        parts: list[bytes] = []
        pending = 0  # bytes in parts
        too_long = False  # dropping the rest of an oversized line
        for piece in pieces:
            if piece is None:
                if parts or too_long:
                    self.damage.lost_records += 1
                    self.damage.unreadable_bytes += pending
                parts, pending, too_long = [], 0, False
                continue
            start = 0
            while (end := piece.find(b"\n", start)) >= 0:
                lineno += 1
                if too_long:
                    self.damage.malformed(lineno, "line longer than 64 MiB", pending + end - start)
                    too_long = False
                else:
                    line = b"".join([*parts, piece[start:end]]) if parts else piece[start:end]
                    if line.strip():
                        yield lineno, line
                parts, pending = [], 0
                start = end + 1
            if start < len(piece):
                pending += len(piece) - start
                if too_long or pending > _MAX_LINE:
                    too_long, parts = True, []
                else:
                    parts.append(piece[start:])
        if parts or too_long:
            self.damage.note(
                f"line {lineno + 1:,}",
                f"the file ends mid-record ({pending:,} bytes without their newline)",
                nbytes=pending,
                records=1,
            )

    def _plain(self, f: BinaryIO) -> Iterator[bytes | None]:
        while chunk := f.read(_CHUNK):
            self.bytes_read += len(chunk)
            yield chunk

    def _decode(self, f: BinaryIO, codec: _Codec) -> Iterator[bytes | None]:
        """Decoded data of consecutive frames (or members), resuming past damaged ones."""
        base = 0  # file offset of buf[0]
        buf = b""
        while True:
            if len(buf) < 8:
                buf += f.read(_CHUNK)
                if not buf:
                    return
            if not buf.startswith(codec.magic):
                skip = self._skippable(buf) if codec.has_skippable_frames else None
                if skip is None:
                    resume = self._find(f, codec.magic, base + 1)
                    what = f"not {codec.unit} data; skipped {resume - base:,} bytes"
                    what += self._to(resume, codec)
                    if len(buf) < len(codec.magic) and codec.magic.startswith(buf):
                        what = f"the file ends inside a {codec.unit}'s magic (torn write)"
                    self.damage.note(f"byte {base:,}", what, nbytes=resume - base)
                    yield None
                elif base + skip > self.size:
                    resume = self.size
                    self.damage.note(f"byte {base:,}", "the file ends inside a skippable frame")
                else:
                    resume = base + skip
                f.seek(resume)
                base, buf = resume, b""
                self.bytes_read = base
                continue
            start = base
            decoder = codec.decoder()
            held: list[bytes] = []
            held_bytes = 0
            error = ""
            while True:
                try:
                    out = decoder.decompress(buf)
                except codec.errors as e:
                    error = f"{codec.unit} corrupt ({e})"
                    break
                if out:
                    held.append(out)
                    held_bytes += len(out)
                    if held_bytes > _HOLD:  # too big to hold: release it unverified
                        yield from held
                        held, held_bytes = [], 0
                if decoder.eof:
                    base += len(buf) - len(decoder.unused_data)
                    buf = decoder.unused_data
                    break
                base += len(buf)
                buf = f.read(_CHUNK)
                self.bytes_read = base
                if not buf:
                    error = "torn"
                    break
            if not error:
                yield from held
                self.bytes_read = base
                continue
            resume = self._find(f, codec.magic, start + 1)
            if error == "torn" and resume == self.size:
                # Truncation does not alter what came before: the decoded prefix is genuine.
                yield from held
                self.damage.note(
                    f"byte {start:,}",
                    f"the file ends inside a {codec.unit} (torn write); records before the "
                    "tear were kept, any after it are lost",
                )
            else:
                if error == "torn":
                    error = f"{codec.unit} runs into the next one"
                lost = sum(piece.count(b"\n") for piece in held)
                self.damage.note(
                    f"byte {start:,}",
                    f"{error}; skipped {resume - start:,} bytes{self._to(resume, codec)}"
                    + (f", losing {lost:,} records decoded from it" if lost else ""),
                    nbytes=resume - start,
                    records=lost,
                )
            yield None
            f.seek(resume)
            base, buf = resume, b""
            self.bytes_read = base

    def _to(self, resume: int, codec: _Codec) -> str:
        return f" to the next {codec.unit}" if resume < self.size else " to the end of the file"

    @staticmethod
    def _skippable(buf: bytes) -> int | None:
        """The length of a zstd skippable frame (metadata) at the start of ``buf``."""
        if len(buf) >= 8 and int.from_bytes(buf[:4], "little") & ~0xF == _SKIPPABLE_MAGIC:
            return 8 + int.from_bytes(buf[4:8], "little")
        return None

    def _find(self, f: BinaryIO, magic: bytes, offset: int) -> int:
        """The offset of the next ``magic`` at or after ``offset``, else the file size."""
        f.seek(offset)
        carry = b""
        while chunk := f.read(_CHUNK):
            window = carry + chunk
            found = window.find(magic)
            if found >= 0:
                return offset - len(carry) + found
            offset += len(chunk)
            carry = window[-(len(magic) - 1) :]
        return self.size
