"""``python -m services.deadletters``: list, show and replay dead letters after a fix.

    python -m services.deadletters list [--group G] [--topic T] [--reason-code C] [--json]
    python -m services.deadletters show 0:17
    python -m services.deadletters replay 0:17 0:18        # or: replay --all --group G

A consumer that cannot read or apply a message sends it to ``interact.dead-letters.v1``
as it came, keyed as it was, with where it came from in the headers (``topic``,
``partition``, ``offset``, ``group``, ``service``, ``reason``, ``reason-code``,
``event-type``; ``shared.kafka.dead_letter``). A dead letter is named by its own place in
the dead-letter topic, ``partition:offset``.

``replay`` publishes each chosen dead letter to the topic it came from, with its key (so it
lands on the partition its tenant's events use) and its ``event-type`` header, plus
``replayed-from``. It is safe to repeat: every group of that topic sees the copy as it
would see a redelivery, which at-least-once delivery already makes them take safely (read
models skip an ``event_id`` they applied), so an event applied meanwhile (or replayed
before) changes nothing.

Kafka settings come from the environment like a service's (``KAFKA_BOOTSTRAP_SERVERS``,
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*``, ``KAFKA_SSL_*``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from shared import topics
from shared.kafka import make_producer
from shared.kafka_security import client_options
from shared.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the dead-letter topic, with its headers decoded."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def source_topic(self) -> str:
        """The topic it came from (older dead letters only have ``source``, topic:p:o)."""
        return self.headers.get("topic") or self.headers.get("source", "").split(":", 1)[0]

    def matches(self, group: str | None, topic: str | None, reason_code: str | None) -> bool:
        return (
            (group is None or self.headers.get("group") == group)
            and (topic is None or self.source_topic == topic)
            and (reason_code is None or self.headers.get("reason-code") == reason_code)
        )

    def summary(self) -> dict[str, object]:
        at = self.headers.get("dead-lettered-at") or datetime.fromtimestamp(
            self.timestamp_ms / 1000, UTC
        ).isoformat(timespec="seconds")
        return {
            "id": self.id,
            "dead_lettered_at": at,
            "service": self.headers.get("service", ""),
            "group": self.headers.get("group", ""),
            "source": self.headers.get("source", ""),
            "event_type": self.headers.get("event-type", ""),
            "reason_code": self.headers.get("reason-code", ""),
            "reason": self.headers.get("reason", ""),
        }

    def detail(self) -> dict[str, object]:
        try:
            value: object = json.loads(self.value)
        except ValueError:
            value = self.value.decode(errors="replace")
        return {
            **self.summary(),
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "headers": self.headers,
            "value": value,
        }


def settings_from_env(bootstrap_servers: str | None = None) -> ServiceSettings:
    settings = ServiceSettings(service_name="deadletters")
    if bootstrap_servers:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": bootstrap_servers})
    return settings


async def read_dead_letters(settings: ServiceSettings) -> list[DeadLetter]:
    """Every dead letter there is now, oldest first per partition (no consumer group)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers, **client_options(settings)
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topics.DEAD_LETTERS])
    finally:
        await admin.close()
    partitions = sorted(p["partition"] for p in described.get("partitions", ()))
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        client_id="interact-deadletters",
        **client_options(settings),
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topics.DEAD_LETTERS, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
        idle = 0
        while remaining and idle < 10:  # records gone meanwhile (retention) end the read
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    letters.append(
                        DeadLetter(
                            partition=record.partition,
                            offset=record.offset,
                            key=record.key,
                            value=record.value or b"",
                            headers={k: v.decode(errors="replace") for k, v in record.headers},
                            timestamp_ms=record.timestamp,
                        )
                    )
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return letters
    finally:
        await consumer.stop()


async def replay(settings: ServiceSettings, letters: Iterable[DeadLetter]) -> list[str]:
    """Publish each to the topic it came from (acks=all); returns the ids replayed."""
    chosen = list(letters)
    for letter in chosen:
        if not letter.source_topic or letter.source_topic == topics.DEAD_LETTERS:
            raise ValueError(f"{letter.id}: no topic to replay to ({letter.source_topic!r})")
    producer = make_producer(settings)
    await producer.start()
    try:
        pending = []
        for letter in chosen:
            headers = [
                ("content-type", b"application/json"),
                ("replayed-from", f"{topics.DEAD_LETTERS}:{letter.id}".encode()),
            ]
            if letter.headers.get("event-type"):
                headers.append(("event-type", letter.headers["event-type"].encode()))
            pending.append(
                await producer.send(
                    letter.source_topic, letter.value, key=letter.key, headers=headers
                )
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return [letter.id for letter in chosen]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.deadletters", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--bootstrap-servers", help="default: KAFKA_BOOTSTRAP_SERVERS")
    commands = parser.add_subparsers(dest="command", required=True)

    def filters(command: argparse.ArgumentParser) -> None:
        command.add_argument("--group", help="only those this consumer group gave up on")
        command.add_argument("--topic", help="only those that came from this topic")
        command.add_argument("--reason-code", help="e.g. malformed, unknown_type")

    listing = commands.add_parser("list", help="one line per dead letter")
    filters(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = commands.add_parser("show", help="a dead letter's headers, key and message")
    show.add_argument("id", help="partition:offset in the dead-letter topic")
    again = commands.add_parser("replay", help="publish to the topic it came from")
    again.add_argument("ids", nargs="*", help="partition:offset ...")
    again.add_argument("--all", action="store_true", help="every dead letter the filters select")
    filters(again)
    args = parser.parse_args(argv)
    if args.command == "replay" and bool(args.ids) == bool(args.all):
        parser.error("replay: give dead letter ids or --all (with filters), not both")
    return args


async def run(args: argparse.Namespace, settings: ServiceSettings) -> tuple[int, str]:
    """Performs the command; returns (exit code, what to print)."""
    letters = await read_dead_letters(settings)
    if args.command == "list":
        chosen = [d for d in letters if d.matches(args.group, args.topic, args.reason_code)]
        if args.json:
            return 0, "\n".join(json.dumps(d.summary()) for d in chosen)
        lines = [
            "{id:>10}  {dead_lettered_at:25}  {group:24}  {source:40}  {event_type:24}  "
            "{reason_code:19}  {reason:.80}".format(**d.summary())
            for d in chosen
        ]
        return 0, "\n".join(lines) or "no dead letters"
    by_id = {d.id: d for d in letters}
    if args.command == "show":
        if args.id not in by_id:
            return 1, f"no dead letter {args.id}"
        return 0, json.dumps(by_id[args.id].detail(), indent=2, default=str)
    if args.all:
        chosen = [d for d in letters if d.matches(args.group, args.topic, args.reason_code)]
    else:
        missing = [i for i in args.ids if i not in by_id]
        if missing:
            return 1, f"no dead letter {', '.join(missing)}"
        chosen = [by_id[i] for i in args.ids]
    try:
        replayed = await replay(settings, chosen)
    except ValueError as exc:
        return 1, str(exc)
    return 0, f"replayed {len(replayed)}: {' '.join(replayed)}" if replayed else "nothing to replay"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = settings_from_env(args.bootstrap_servers)
    try:
        code, text = asyncio.run(run(args, settings))
    except KafkaError as exc:
        code, text = 2, f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {exc}"
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
