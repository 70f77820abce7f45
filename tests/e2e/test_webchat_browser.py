"""The website chat in a real headless Chromium against the whole stack as processes.

A visitor page on its own origin embeds the widget with one script tag; the visitor writes,
an agent answers through the Portal API, and the network between browser and ingest is
cut and restored (a TCP proxy the test pulls the plug on): messages written on both sides
during the outage arrive exactly once, in order. Needs ``/usr/bin/chromium`` (Debian
package ``chromium``) and the ``playwright`` Python package.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest
from playwright.sync_api import Page, expect, sync_playwright
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from services.stack import seed_demo
from shared.local_broker import free_port
from tests.support.e2e import login

CHROMIUM = "/usr/bin/chromium"


class CuttableProxy:
    """A TCP proxy in front of ingest whose cable the test can pull and plug back in."""

    def __init__(self, target_port: int) -> None:
        self.target_port, self.port = target_port, free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    def start(self) -> CuttableProxy:
        self.thread.start()
        self.restore()
        return self

    def _run(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def restore(self) -> None:
        async def listen() -> None:
            self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

        self._run(listen())

    def cut(self) -> None:
        """Refuse new connections and break the open ones."""

        async def pull() -> None:
            assert self.server is not None
            self.server.close()
            for writer in list(self.links):
                writer.transport.abort()
            self.links.clear()

        self._run(pull())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def visitor_site(html: str) -> tuple[ThreadingHTTPServer, str]:
    """The tenant's website: one page with the script tag, on its own origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def wait_for(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def allow_origin(stack, channel_id: str, origin: str) -> None:  # type: ignore[no-untyped-def]
    """The administrator lists the website in the channel's settings (Portal API)."""
    response = httpx.put(
        f"{stack.url('conversation')}/v1/channels/{channel_id}/allowed-origins",
        headers=login(stack, "admin@demo.example"),
        json={"allowed_origins": [origin]},
    )
    assert response.status_code == 200, response.text


def socket_welcomes(url: str, origin: str) -> bool:
    """Has ingest learnt the new origin yet? (Refused with 4403 until it has.)"""
    try:
        with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            ws.send(orjson.dumps({"type": "hello", "visitor_id": "origin-probe-1"}).decode())
            return orjson.loads(ws.recv(timeout=10))["type"] == "welcome"
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4403
        return False


@pytest.fixture
def chromium() -> Iterator:  # type: ignore[type-arg]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def texts(page: Page, author: str) -> list[str]:
    return page.locator(
        f'[data-testid="interact-chat-message"][data-from="{author}"]'
    ).all_inner_texts()


def test_visitor_and_agent_chat_through_an_outage(make_stack, chromium):
    stack = make_stack("sqlite")
    demo = seed_demo(stack)
    api = stack.url("conversation")
    proxy = CuttableProxy(stack.ports["ingest"]).start()
    site, origin = visitor_site(
        "<!doctype html><html><head><title>Bakery</title></head><body><h1>Demo Bakery</h1>"
        f"<script src='http://127.0.0.1:{proxy.port}/sdk/widget.js' "
        f"data-channel='{demo['webchat_key']}' async></script></body></html>"
    )
    try:
        allow_origin(stack, demo["channel_id"], origin)
        socket = f"ws://127.0.0.1:{stack.ports['ingest']}/v1/webchat/{demo['webchat_key']}/ws"
        wait_for(lambda: socket_welcomes(socket, origin))

        # French: only Nora speaks it, so the conversation lands in her queue.
        context = chromium.new_context(locale="fr-BE")
        page = context.new_page()
        page.goto(f"{origin}/")
        page.get_by_test_id("interact-chat-launcher").click()
        status = page.get_by_test_id("interact-chat-status")
        expect(status).to_have_text("online", timeout=30_000)
        visitor_id = page.evaluate("window.InteractChat.visitorId")

        def visitor_says(text: str) -> None:
            page.get_by_test_id("interact-chat-input").fill(text)
            page.get_by_test_id("interact-chat-send").click()

        visitor_says("Bonjour, ma commande 42?")
        nora = login(stack, "nora@demo.example")
        queue = wait_for(lambda: httpx.get(f"{api}/v1/queue", headers=nora).json()["items"])
        assert [c["preview"] for c in queue] == ["Bonjour, ma commande 42?"]
        conversation = f"{api}/v1/conversations/{queue[0]['conversation_id']}"
        assert httpx.post(f"{conversation}/take", headers=nora).status_code == 200

        def agent_says(text: str) -> None:
            sent = httpx.post(f"{conversation}/messages", headers=nora, json={"text": text})
            assert sent.status_code == 201, sent.text

        agent_says("Bonjour ! Je regarde.")
        agent_messages = page.locator('[data-testid="interact-chat-message"][data-from="agent"]')
        expect(agent_messages).to_have_text(["Bonjour ! Je regarde."], timeout=30_000)

        # The cable is pulled: both sides write while the other cannot hear.
        proxy.cut()
        expect(status).not_to_have_text("online", timeout=30_000)
        visitor_says("Message A pendant la coupure")
        visitor_says("Message B pendant la coupure")
        agent_says("Réponse 1")
        agent_says("Réponse 2")
        assert (
            page.evaluate(
                "JSON.parse(localStorage.getItem("
                + repr(f"interact-chat:{demo['webchat_key']}:outbox")
                + ")).length"
            )
            == 2
        )
        proxy.restore()

        # Back: each side gets what it missed, exactly once and in order.
        expect(status).to_have_text("online", timeout=60_000)
        expect(agent_messages).to_have_text(
            ["Bonjour ! Je regarde.", "Réponse 1", "Réponse 2"], timeout=30_000
        )

        def visitor_messages() -> list[str]:
            detail = httpx.get(conversation, headers=nora).json()
            return [m["text"] for m in detail["messages"] if m["direction"] == "in"]

        expected = [
            "Bonjour, ma commande 42?",
            "Message A pendant la coupure",
            "Message B pendant la coupure",
        ]
        assert wait_for(lambda: (got := visitor_messages()) == expected and got) == expected
        expect(page.locator(".msg.pending")).to_have_count(0)

        # A reload keeps the visitor, the transcript and the place in the mailbox.
        page.reload()
        page.get_by_test_id("interact-chat-launcher").click()
        expect(status).to_have_text("online", timeout=30_000)
        assert page.evaluate("window.InteractChat.visitorId") == visitor_id
        agent_says("Réponse 3")
        expect(agent_messages).to_have_text(
            ["Bonjour ! Je regarde.", "Réponse 1", "Réponse 2", "Réponse 3"], timeout=30_000
        )
        assert texts(page, "visitor") == expected
        # The agent sees the replies delivered (and read: the chat window is open).
        wait_for(
            lambda: all(
                m["delivery_status"] in ("delivered", "read")
                for m in httpx.get(conversation, headers=nora).json()["messages"]
                if m["direction"] == "out"
            )
        )
        assert visitor_messages() == expected
        context.close()
    finally:
        proxy.stop()
        site.shutdown()
