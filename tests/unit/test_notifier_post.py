"""Notifier.post: a request hands a message over and goes on; one sender thread sends."""

from __future__ import annotations

import threading

from backend.notifier import Message, Notifier


class Gateway:
    """A remote transport that holds every message until released."""

    name = "gateway"
    remote = True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.delivered: list[str] = []

    def deliver(self, message: Message) -> None:
        self.release.wait(10)
        self.delivered.append(message.body)


class Local:
    name = "local"
    remote = False

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def deliver(self, message: Message) -> None:
        self.delivered.append(message.body)


def test_post_does_not_wait_for_a_remote_transport_and_keeps_the_order():
    gateway, local = Gateway(), Local()
    notifier = Notifier({"sms": gateway, "email": local})
    for n in range(3):
        notifier.post(Message(to="13800138000", channel="sms", body=f"code {n}"))
    assert gateway.delivered == []  # all three answered while the gateway holds the first
    gateway.release.set()
    assert notifier.flush(10)
    assert gateway.delivered == ["code 0", "code 1", "code 2"]


def test_post_to_a_local_transport_is_done_on_return():
    local = Local()
    notifier = Notifier({"sms": local, "email": local})
    notifier.post(Message(to="a@health.test", channel="email", body="notice"))
    assert local.delivered == ["notice"]


def test_a_full_queue_drops_and_never_blocks_the_request():
    gateway = Gateway()
    notifier = Notifier({"sms": gateway, "email": Local()}, queue_size=2)
    for n in range(5):  # one taken by the sender, two queued, two dropped
        notifier.post(Message(to="13800138000", channel="sms", body=f"code {n}"))
    gateway.release.set()
    assert notifier.flush(10)
    assert len(gateway.delivered) in (2, 3)  # the sender may not have taken one yet
    assert gateway.delivered[0] == "code 0"
