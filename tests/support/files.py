"""Real small files made in the test: images (Pillow), a PDF, a WAV and an Ogg Opus voice
note, a Windows program, a cut-off JPEG. Nothing is a fixture file on disk."""

from __future__ import annotations

import io
import struct
import wave

from PIL import Image


def png(width: int = 64, height: int = 48, colour: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


def jpeg(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def broken_jpeg() -> bytes:
    """A JPEG cut off after its first fifth: the header says image, the pixels are missing."""
    whole = jpeg()
    return whole[: len(whole) // 5]


def pdf(text: str = "Invoice 42") -> bytes:
    """A minimal one-page PDF with a valid cross-reference table."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x10" * int(seconds * rate))
    return out.getvalue()


def _ogg_page(payload: bytes, sequence: int, flags: int, granule: int = 0) -> bytes:
    segments = [255] * (len(payload) // 255) + [len(payload) % 255]
    header = (
        b"OggS"
        + struct.pack("<BBqIII", 0, flags, granule, 0x1D1, sequence, 0)
        + bytes([len(segments)])
        + bytes(segments)
    )
    page = header + payload
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_opus_voice() -> bytes:
    """An Ogg Opus stream as WhatsApp voice notes are: OpusHead, OpusTags, one silent frame."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    silent_frame = bytes([0xF8, 0xFF, 0xFE])  # one 20 ms CELT frame of silence
    return (
        _ogg_page(head, 0, 0x02)
        + _ogg_page(tags, 1, 0x00)
        + _ogg_page(silent_frame, 2, 0x04, granule=960)
    )


def windows_program() -> bytes:
    """The start of a PE executable ("MZ", the PE header): what a renamed .exe looks like."""
    dos = bytearray(b"MZ" + b"\x90\x00" + b"\x00" * 56)
    dos += struct.pack("<I", 64)  # e_lfanew at 0x3c: the PE header follows at 64
    pe = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 0xE0, 0x102)
    return bytes(dos + pe + b"\x00" * 512)
