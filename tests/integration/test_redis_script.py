"""The scan path's packed script call against a real redis-server of its own (and fakeredis).

It must give what redis-py's own ``register_script`` gives, for any keys and
arguments, and survive what a real deployment does to it: a flushed script cache,
a Redis restart between two scans (its kept connections are dead), an outage (the
caller gets redis-py's ConnectionError and falls back), and threads.
"""

from __future__ import annotations

import threading

import fakeredis
import pytest
from faults_support import RedisServer, redis_binary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from backend.redis_script import PackedScript

ECHO = """
redis.call('SET', KEYS[1], ARGV[1])
return {#KEYS, KEYS[1], redis.call('GET', KEYS[1]), ARGV[2], redis.call('INCR', KEYS[2])}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = redis_binary()
    if binary is None:
        pytest.skip("redis-server is not installed")
    redis_server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    redis_server.start()
    yield redis_server
    redis_server.kill()


@pytest.fixture(params=["redis-server", "fakeredis"])
def client(request):
    if request.param == "fakeredis":
        return fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
    return fresh(request.getfixturevalue("server"))


def fresh(server: RedisServer):
    client = server.client()
    client.flushall()
    return client


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=text, value=text, number=st.integers(-(2**62), 2**62))
def test_answers_what_redis_py_answers(client, key, value, number):
    packed = PackedScript(client, ECHO)
    reference = client.register_script(ECHO)
    mine = packed(keys=[f"k:{key}", "counter"], args=[value, number])
    theirs = reference(keys=[f"k:{key}", "counter"], args=[value, number])
    assert mine[:4] == theirs[:4] == [2, f"k:{key}", value, str(number)]
    assert theirs[4] == mine[4] + 1  # both ran, in order, on the same server


def test_a_flushed_script_cache_is_refilled(client):
    packed = PackedScript(client, ECHO)
    assert packed(keys=["a", "n"], args=["1", 0])[4] == 1
    client.script_flush()
    assert packed(keys=["a", "n"], args=["2", 0])[2:] == ["2", "0", 2]


def test_a_restart_between_calls_costs_no_failure(server):
    client = fresh(server)
    packed = PackedScript(client, ECHO)
    assert packed(keys=["a", "n"], args=["x", 0])[4] == 1
    server.kill()
    server.start()  # empty: no data, no scripts, every old connection closed
    assert packed(keys=["a", "n"], args=["y", 0])[2:] == ["y", "0", 1]


def test_an_outage_raises_redis_connection_error_then_recovers(server):
    client = fresh(server)
    packed = PackedScript(client, ECHO)
    packed(keys=["a", "n"], args=["x", 0])
    server.kill()
    try:
        with pytest.raises(RedisConnectionError):
            packed(keys=["a", "n"], args=["x", 0])
        with pytest.raises(RedisConnectionError):
            packed(keys=["a", "n"], args=["x", 0])
    finally:
        server.start()
    assert packed(keys=["a", "n"], args=["z", 0])[2:] == ["z", "0", 1]


def test_threads_never_share_a_connection(client):
    packed = PackedScript(client, "return redis.call('INCR', KEYS[1])")
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [packed(keys=["shared"], args=[]) for _ in range(150)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # A connection shared by two threads would hand one thread the other's reply.
    assert sorted(seen) == list(range(1, 1201))
