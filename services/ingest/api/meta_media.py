"""Files visitors send on Meta's channels: fetched while the webhook is answered, kept in
the blob store, carried on the message as attachments (docs/attachments.md).

- Messenger and Page comments: the webhook has the file's URL (Meta's CDN; it expires).
- WhatsApp: the webhook has a media id; ``GET /{media-id}`` with the number's token gives
  a short-lived ``url`` (and ``file_size``), fetched with the same bearer token.

Every URL Meta hands us is checked by the outbound policy (``shared.outbound``: no
loopback, private or metadata addresses) before each hop; at most :data:`MAX_REDIRECTS`
redirects are followed, each checked, and the token never goes to another host. A download
stops as soon as it passes the channel's limit. A file that cannot be fetched or is not
accepted becomes a :class:`~shared.events.RefusedAttachment` with its reason; the message
(its text, the other files) is kept whatever happens to one file.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from prometheus_client import Counter
from sqlalchemy import Engine

from services.ingest.domain.meta import MediaRef, VisitorMessage
from services.ingest.store.channels import MetaChannel, tenant_attachment_max
from shared.attachments import CHANNEL_LIMITS, AttachmentRefused, Limits, keep
from shared.blobs import BlobStore
from shared.events import Attachment, MessageContent, RefusedAttachment
from shared.outbound import OutboundPolicy, RefusedDestination

log = logging.getLogger(__name__)
MEDIA = Counter(
    "interact_inbound_media_total", "Files visitors sent, by outcome.", ["channel", "outcome"]
)
MAX_REDIRECTS = 3
#: Attachment ids derived from the channel's ids: a webhook Meta sends again lands on the same keys.
ATTACHMENT_NAMESPACE = uuid.UUID("3e0b6f38-94c1-4a57-8d1e-7a2f54c09b21")
GONE = {401, 403, 404, 410}


class MediaUnavailable(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class MediaSettings:
    graph_url: str
    timeout_s: float = 15.0
    max_bytes: int = 25 * 1024 * 1024


class MediaFetcher:
    def __init__(
        self,
        blobs: BlobStore,
        settings: MediaSettings,
        policy: OutboundPolicy,
        scan: object | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.blobs, self.settings, self.policy, self.scan = blobs, settings, policy, scan
        #: Where the tenants' own size limits are (``store.tenant_limits``); None: none.
        self.engine = engine

    async def _limits(self, channel: MetaChannel) -> Limits:
        tenant_max = None
        if self.engine is not None:
            tenant_max = await asyncio.to_thread(
                tenant_attachment_max, self.engine, channel.tenant_id
            )
        return Limits.of(channel.channel_type, self.settings.max_bytes, tenant_max)

    async def contents(
        self, messages: list[tuple[MetaChannel, VisitorMessage]]
    ) -> dict[tuple[uuid.UUID, str], MessageContent]:
        """The content of every message that has files, with them attached (or refused)."""
        with_media = [(ch, m) for ch, m in messages if m.media]
        if not with_media:
            return {}
        async with httpx.AsyncClient(
            timeout=self.settings.timeout_s, follow_redirects=False
        ) as client:
            done = await asyncio.gather(*(self.attach(client, ch, m) for ch, m in with_media))
        return {
            (ch.channel_id, m.channel_message_id): c
            for (ch, m), c in zip(with_media, done, strict=True)
        }

    async def attach(
        self, client: httpx.AsyncClient, channel: MetaChannel, message: VisitorMessage
    ) -> MessageContent:
        kept: list[Attachment] = []
        refused: list[RefusedAttachment] = []
        limits = await self._limits(channel)
        for index, ref in enumerate(message.media):
            attachment_id = uuid.uuid5(
                ATTACHMENT_NAMESPACE, f"{channel.channel_id}:{message.channel_message_id}:{index}"
            )
            try:
                data, claimed_type = await self.download(client, channel, ref, limits)
                kept.append(
                    await keep(
                        self.blobs,
                        channel.tenant_id,
                        data,
                        file_name=ref.file_name,
                        claimed_type=claimed_type or ref.claimed_type,
                        limits=limits,
                        attachment_id=attachment_id,
                        claimed_kind=ref.kind,
                        scan=self.scan,
                    )
                )
                MEDIA.labels(channel.channel_type, "kept").inc()
            except (AttachmentRefused, MediaUnavailable) as exc:
                refused.append(
                    RefusedAttachment(
                        kind=ref.kind, file_name=ref.file_name, code=exc.code, reason=exc.message
                    )
                )
                MEDIA.labels(channel.channel_type, exc.code).inc()
        return message.content.model_copy(
            update={"attachments": kept, "refused_attachments": refused}
        )

    def _cap(self, channel_type: str) -> int:
        return min(
            max(CHANNEL_LIMITS.get(channel_type, {"*": self.settings.max_bytes}).values()),
            self.settings.max_bytes,
        )

    async def download(
        self, client: httpx.AsyncClient, channel: MetaChannel, ref: MediaRef, limits: Limits
    ) -> tuple[bytes, str | None]:
        cap = min(self._cap(channel.channel_type), limits.max_bytes)
        token = None
        url = ref.url
        if ref.media_id is not None:  # WhatsApp: ask the Graph API where the file is
            token = channel.access_token
            url, size = await self._whatsapp_url(client, ref.media_id, token)
            # WhatsApp says the size and the kind: a file above that kind's limit is not fetched.
            most = limits.for_kind(ref.kind)
            if size is not None and size > most:
                raise AttachmentRefused(
                    413, "too_large", f"The file is {size} bytes; {most} bytes at most here."
                )
        if not url:
            raise MediaUnavailable("media_missing", "The channel sent no link to the file.")
        return await self._get(client, url, token, cap)

    async def _whatsapp_url(
        self, client: httpx.AsyncClient, media_id: str, token: str
    ) -> tuple[str, int | None]:
        try:
            response = await client.get(
                f"{self.settings.graph_url.rstrip('/')}/{media_id}",
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise MediaUnavailable(
                "media_unavailable", f"The Graph API could not be reached ({type(exc).__name__})."
            ) from None
        if response.status_code in GONE or response.status_code == 400:
            raise MediaUnavailable(
                "media_expired", f"WhatsApp no longer has this file (HTTP {response.status_code})."
            )
        if response.status_code >= 300:
            raise MediaUnavailable(
                "media_unavailable", f"The Graph API answered HTTP {response.status_code}."
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise MediaUnavailable("media_unavailable", "The Graph API gave no link to the file.")
        size = body.get("file_size")
        return url, int(size) if isinstance(size, int | str) and str(size).isdigit() else None

    async def _get(
        self, client: httpx.AsyncClient, url: str, token: str | None, cap: int
    ) -> tuple[bytes, str | None]:
        host = urlsplit(url).hostname
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await self.policy.check(url)
            except RefusedDestination as exc:
                raise MediaUnavailable(
                    "media_refused", f"The file's link may not be fetched: {exc}."
                ) from None
            headers = (
                {"Authorization": f"Bearer {token}"}
                if token and urlsplit(url).hostname == host
                else {}
            )
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code in GONE:
                        raise MediaUnavailable(
                            "media_expired",
                            f"The channel's link to the file has expired or is gone (HTTP {response.status_code}).",
                        )
                    if response.status_code >= 300:
                        raise MediaUnavailable(
                            "media_unavailable",
                            f"The file could not be fetched (HTTP {response.status_code}).",
                        )
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > cap:
                        raise AttachmentRefused(
                            413,
                            "too_large",
                            f"The file is {declared} bytes; {cap} bytes at most here.",
                        )
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > cap:
                            raise AttachmentRefused(
                                413,
                                "too_large",
                                f"The file is more than {cap} bytes, the most here.",
                            )
                    return bytes(body), response.headers.get("content-type")
            except httpx.HTTPError as exc:
                raise MediaUnavailable(
                    "media_unavailable", f"The file could not be fetched ({type(exc).__name__})."
                ) from None
        raise MediaUnavailable("media_unavailable", "The file's link redirects too often.")
