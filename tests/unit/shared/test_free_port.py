"""Ports for the servers of a test stack or a local run: free, never handed out twice, and
outside the kernel's ephemeral range, where an outgoing connection could take one first."""

from __future__ import annotations

import socket

from shared.local_broker import _ephemeral_ports, free_port


def test_free_ports_are_distinct_bindable_and_not_ephemeral() -> None:
    low, high = _ephemeral_ports()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert not [p for p in ports if low <= p <= high]
    for port in ports[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # raises if it was not free


def test_a_port_someone_listens_on_is_not_handed_out() -> None:
    taken = []
    try:
        for _ in range(50):
            port = free_port()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", port))
            sock.listen()
            taken.append(sock)
        listening = {s.getsockname()[1] for s in taken}
        assert not listening & {free_port() for _ in range(200)}
    finally:
        for sock in taken:
            sock.close()
