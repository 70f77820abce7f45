"""What a file must be to be kept (shared.attachments), on real files made here."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from PIL import Image

from shared.attachments import MB, AttachmentRefused, Limits, inspect, keep, safe_file_name
from shared.blobs import LocalBlobStore
from shared.events import MessageContent
from tests.support import files


@pytest.mark.parametrize(
    ("data", "name", "content_type", "kind"),
    [
        (files.png(), "photo.png", "image/png", "image"),
        (files.jpeg(), None, "image/jpeg", "image"),
        (files.pdf(), "invoice.pdf", "application/pdf", "file"),
        (files.wav(), "memo.wav", "audio/x-wav", "audio"),
        (files.ogg_opus_voice(), None, "audio/ogg", "audio"),
    ],
)
def test_accepted_files_are_named_by_their_bytes(
    data: bytes, name: str | None, content_type: str, kind: str
) -> None:
    got = inspect(
        data, file_name=name, claimed_type="application/octet-stream", limits=Limits("webchat")
    )
    assert (got.content_type, got.kind) == (content_type, kind)
    assert len(got.sha256) == 64
    assert (got.thumbnail is not None) == (kind == "image")


def test_a_thumbnail_is_a_small_jpeg() -> None:
    got = inspect(
        files.jpeg(1600, 1200), file_name="big.jpg", claimed_type=None, limits=Limits("messenger")
    )
    assert (got.width, got.height) == (1600, 1200)
    assert got.thumbnail is not None
    import io

    with Image.open(io.BytesIO(got.thumbnail)) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 320


@pytest.mark.parametrize(
    ("data", "name", "claimed", "limits", "status", "code"),
    [
        (
            files.windows_program(),
            "invoice.pdf",
            "application/pdf",
            Limits("webchat"),
            415,
            "disguised_executable",
        ),
        (
            files.windows_program(),
            "photo.jpg",
            None,
            Limits("whatsapp"),
            415,
            "disguised_executable",
        ),
        (
            files.windows_program(),
            "setup.exe",
            "application/vnd.microsoft.portable-executable",
            Limits("webchat"),
            415,
            "type_not_allowed",
        ),
        (
            b"#!/bin/sh\nrm -rf ~\n",
            "notes.txt",
            "text/plain",
            Limits("webchat"),
            415,
            "disguised_executable",
        ),
        (files.broken_jpeg(), "photo.jpg", "image/jpeg", Limits("messenger"), 422, "broken_image"),
        (b"", "empty.pdf", None, Limits("webchat"), 422, "empty_file"),
        (
            files.pdf() + b" " * (3 * MB),
            "big.pdf",
            None,
            Limits("webchat", max_bytes=2 * MB),
            413,
            "too_large",
        ),
        # WhatsApp's own image limit (5 MB) is below the operator's 25 MB.
        (
            files.png(3000, 3000, "white") + b"\0" * (5 * MB),
            "big.png",
            None,
            Limits("whatsapp"),
            413,
            "too_large",
        ),
    ],
)
def test_refusals_say_why(
    data: bytes, name: str, claimed: str | None, limits: Limits, status: int, code: str
) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        inspect(data, file_name=name, claimed_type=claimed, limits=limits)
    assert (refused.value.status, refused.value.code) == (status, code)


def test_limits_take_the_smaller_of_channel_and_operator() -> None:
    assert Limits("whatsapp").for_kind("image") == 5 * MB
    assert Limits("whatsapp", max_bytes=1 * MB).for_kind("image") == 1 * MB
    assert Limits("whatsapp").for_kind("sticker") == MB // 2
    assert Limits("messenger").for_kind("video") == 25 * MB


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ('a"b\r\n.pdf', "ab.pdf"),
        (None, "file.pdf"),
        ("...", "file.pdf"),
    ],
)
def test_file_names_are_made_safe(name: str | None, expected: str) -> None:
    assert safe_file_name(name, "application/pdf") == expected


async def test_keep_stores_original_and_thumbnail_under_the_tenant(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    tenant = uuid.uuid4()
    data = files.png()
    attachment = await keep(
        blobs, tenant, data, file_name="a.png", claimed_type="image/png", limits=Limits("webchat")
    )
    assert attachment.key.startswith(f"tenants/{tenant}/attachments/{attachment.attachment_id}/")
    assert await blobs.get(attachment.key) == data
    assert attachment.thumbnail_key is not None
    assert (await blobs.get(attachment.thumbnail_key))[:3] == b"\xff\xd8\xff"
    # The reference travels in the message contract; old events without it still read.
    content = MessageContent(kind="attachment", text="", attachments=[attachment])
    assert MessageContent.model_validate(content.model_dump(mode="json")) == content
    assert MessageContent.model_validate({"kind": "text", "text": "hi"}).attachments == []


async def test_a_scanner_finding_refuses_the_file(tmp_path: Path) -> None:
    async def scan(data: bytes) -> str | None:
        return "Eicar-Test-Signature"

    blobs = LocalBlobStore(tmp_path)
    with pytest.raises(AttachmentRefused) as refused:
        await keep(
            blobs,
            uuid.uuid4(),
            files.pdf(),
            file_name="x.pdf",
            claimed_type=None,
            limits=Limits("webchat"),
            scan=scan,
        )
    assert (refused.value.status, refused.value.code) == (422, "malware_found")
    assert not list(tmp_path.rglob("original"))


def test_signed_links_check_everything_they_name() -> None:
    from shared import attachment_links as links

    key, tenant, attachment = links.link_key("k" * 32), str(uuid.uuid4()), str(uuid.uuid4())
    query = dict(
        p.split("=") for p in links.signed_query(key, tenant, attachment, now=1000).split("&")
    )
    expires, signature = int(query["expires"]), query["signature"]
    assert links.valid(key, tenant, attachment, "original", "", expires, signature, now=1000)
    assert not links.valid(
        key, tenant, attachment, "original", "", expires, signature, now=expires + 1
    )
    assert not links.valid(
        key, str(uuid.uuid4()), attachment, "original", "", expires, signature, now=1000
    )
    assert not links.valid(key, tenant, attachment, "thumbnail", "", expires, signature, now=1000)
    assert not links.valid(
        key, tenant, attachment, "original", "visitor", expires, signature, now=1000
    )
    assert not links.valid(key, tenant, attachment, "original", "", expires, "é" * 64, now=1000)
    assert not links.valid(
        links.link_key("other" * 8),
        tenant,
        attachment,
        "original",
        "",
        expires,
        signature,
        now=1000,
    )
