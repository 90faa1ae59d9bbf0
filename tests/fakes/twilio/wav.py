"""Minimal WAV reading/writing for G.711 mu-law (format tag 7), as the caller fixtures use.

Written here (not ``wave``) because the standard library only handles PCM.
"""

from __future__ import annotations

import struct
from pathlib import Path

WAVE_FORMAT_MULAW = 7


class WavFormatError(ValueError):
    pass


def parse_mulaw_wav(data: bytes) -> bytes:
    """Return the ``data`` chunk of an 8 kHz mono mu-law WAV file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavFormatError("not a RIFF/WAVE file")
    offset = 12
    fmt: tuple[int, int, int, int] | None = None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise WavFormatError("fmt chunk too short")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavFormatError("data chunk before fmt chunk")
            if fmt != (WAVE_FORMAT_MULAW, 1, 8000, 8):
                raise WavFormatError(f"expected mu-law/mono/8000 Hz/8 bit, got tag/ch/rate/bits {fmt}")
            return bytes(body)
        offset += 8 + size + (size & 1)  # chunks are word-aligned
    raise WavFormatError("no data chunk")


def read_mulaw_wav(path: str | Path) -> bytes:
    return parse_mulaw_wav(Path(path).read_bytes())


def mulaw_wav_bytes(mulaw: bytes, sample_rate: int = 8000) -> bytes:
    """Wrap raw mu-law mono audio in a WAV container (format tag 7, with a ``fact`` chunk)."""
    fmt = struct.pack("<HHIIHHH", WAVE_FORMAT_MULAW, 1, sample_rate, sample_rate, 1, 8, 0)
    fact = struct.pack("<I", len(mulaw))
    pad = b"\x00" if len(mulaw) & 1 else b""
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<I", len(fact))
        + fact
        + b"data"
        + struct.pack("<I", len(mulaw))
        + mulaw
        + pad
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body
