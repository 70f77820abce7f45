"""Fault drills on a running :class:`~services.stack.Stack`: visitors that keep writing through
the faults, the kills, and the audit of what arrived.

Shared by ``tests/e2e/test_faults.py`` (a few hundred messages, asserted) and
``bench/soak.py`` (100,000 messages, counted and timed). The visitors behave like the chat
widget: a refused or failed request is sent again with the same message id, and a visitor
sends its next message only after the previous one was accepted, so each conversation has a
known order to check the log against.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, create_engine

from services.stack import DEMO_OPERATOR_TOKEN, DEMO_PASSWORD, Stack, demo_login


def login(stack: Stack, email: str) -> dict[str, str]:
    """A bearer header of a demo account (``services.stack``'s own login)."""
    with httpx.Client(base_url=stack.url("conversation"), timeout=30) as http:
        return demo_login(http, email)


def add_agent(
    stack: Stack, admin: dict[str, str], channel_id: str, n: int, capacity: int = 500
) -> None:
    """An online Dutch-speaking agent ``extra<n>`` on the channel, room for ``capacity``."""
    httpx.post(
        f"{stack.url('conversation')}/v1/users",
        headers=admin,
        json={
            "first_name": f"Extra{n}",
            "last_name": "Agent",
            "email": f"extra{n}@demo.example",
            "role": "agent",
            "mother_tongue": "nl",
            "languages": ["nl"],
            "channel_ids": [channel_id],
            "capacity": capacity,
            "password": DEMO_PASSWORD,
        },
        timeout=30,
    ).raise_for_status()
    httpx.put(
        f"{stack.url('conversation')}/v1/me/presence",
        headers=login(stack, f"extra{n}@demo.example"),
        json={"presence": "online"},
        timeout=30,
    ).raise_for_status()


def feed(stack: Stack, log: str) -> list[dict]:
    """Every event of one of the conversation service's logs, in log order."""
    operator = {"Authorization": f"Bearer {DEMO_OPERATOR_TOKEN}"}
    events, after = [], 0
    with httpx.Client(timeout=60) as http:
        while True:
            page = http.get(
                f"{stack.url('conversation')}/v1/feed/{log}",
                params={"after": after, "limit": 1000},
                headers=operator,
            ).json()
            if page["next_after"] == after:
                return events
            events += [item["event"] for item in page["items"]]
            after = page["next_after"]


def engine(stack: Stack, service: str) -> Engine:
    """The service's database (its PostgreSQL URL, else its SQLite file), for reading."""
    return create_engine(
        stack.database_urls.get(service) or f"sqlite:///{stack.data_dir / f'{service}.sqlite'}"
    )


def kill_and_restart(stack: Stack, victim: str, down_s: float = 0.5) -> float:
    """SIGKILL (nothing flushed, no group left), a pause, a new process, until it is ready.

    Returns when the new process was started (``time.monotonic()``)."""
    stack.stop_service(victim, signal.SIGKILL)
    time.sleep(down_s)
    restarted = time.monotonic()
    stack.start_service(victim)
    stack.wait_ready(90, [victim])
    return restarted


def text_of(visitor: int, k: int) -> str:
    return f"{visitor}:{k}"


@dataclass
class Visitors:
    """``count`` visitors writing ``messages_each`` messages each into the website chat.

    ``threads`` senders share the visitors; each keeps ``window`` of its visitors writing
    at once (one message each in turn), so conversations open and grow all through the run.
    ``pause_s`` is slept after each visitor's last message.
    """

    stack: Stack
    webchat_key: str
    count: int
    messages_each: int
    threads: int = 1
    window: int = 1
    pause_s: float = 0.0
    accepted: list[str] = field(default_factory=list)
    slowest: float = 0.0  # the longest wait for one 202 (an outage must have been felt)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Visitors:
        for k in range(self.threads):
            mine = list(range(k, self.count, self.threads))
            thread = threading.Thread(target=self._send, args=(mine,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self, timeout: float) -> bool:
        """True when every visitor is done within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    @property
    def expected(self) -> int:
        return self.count * self.messages_each

    def _send(self, visitors: list[int]) -> None:
        url = f"{self.stack.url('ingest')}/v1/webchat/{self.webchat_key}/messages"
        waiting = list(reversed(visitors))
        writing: dict[int, int] = {}  # visitor -> its next message
        with httpx.Client(timeout=10) as http:
            while waiting or writing:
                while waiting and len(writing) < self.window:
                    writing[waiting.pop()] = 0
                for visitor in list(writing):
                    k = writing[visitor]
                    self._post(http, url, visitor, k)
                    if k + 1 == self.messages_each:
                        del writing[visitor]
                        if self.pause_s:
                            time.sleep(self.pause_s)
                    else:
                        writing[visitor] = k + 1

    def _post(self, http: httpx.Client, url: str, visitor: int, k: int) -> None:
        body = {
            "visitor_id": f"visitor-{visitor}",
            "text": text_of(visitor, k),
            "message_id": f"m-{visitor}-{k}",
        }
        started = time.monotonic()
        while True:  # retry until accepted, like the widget
            try:
                if http.post(url, json=body).status_code == 202:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        waited = time.monotonic() - started
        with self._lock:
            self.accepted.append(body["message_id"])
            self.slowest = max(self.slowest, waited)


@dataclass
class Audit:
    """What the conversation log holds of the visitors' messages."""

    received: int  # MessageReceived events of the visitors
    distinct_events: int  # distinct event ids among them
    conversations: int
    lost: int  # accepted, never in the log
    duplicated: int  # in the log more than once (beyond the first)
    out_of_order: int  # in the log before an earlier message of the same visitor
    misplaced: int  # in another visitor's conversation

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.out_of_order or self.misplaced)


def audit(events: list[dict], accepted: list[str]) -> Audit:
    """Compare the ``MessageReceived`` events of the log with the accepted message ids."""
    received = [e for e in events if e["type"] == "MessageReceived"]
    by_conversation: dict[str, list[tuple[int, int]]] = {}
    for event in received:
        payload = event["payload"]
        visitor, _, k = payload["content"]["text"].partition(":")
        by_conversation.setdefault(payload["conversation_id"], []).append((int(visitor), int(k)))
    seen: set[tuple[int, int]] = set()
    duplicated = out_of_order = misplaced = 0
    for messages in by_conversation.values():
        owner, highest = messages[0][0], -1
        for visitor, k in messages:
            if visitor != owner:
                misplaced += 1
            if (visitor, k) in seen:
                duplicated += 1
                continue
            seen.add((visitor, k))
            if k < highest:
                out_of_order += 1
            highest = max(highest, k)
    wanted = {(int(v), int(k)) for v, k in (m.removeprefix("m-").split("-") for m in accepted)}
    return Audit(
        received=len(received),
        distinct_events=len({e["event_id"] for e in received}),
        conversations=len(by_conversation),
        lost=len(wanted - seen),
        duplicated=duplicated,
        out_of_order=out_of_order,
        misplaced=misplaced,
    )
