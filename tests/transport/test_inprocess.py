"""InProcessTransport: real bytes through mailboxes, charged and timed against hand-computed values."""

import numpy as np
import pytest
import torch

from tandem.core import (
    ClientUpdate,
    ConfigError,
    Link,
    ModelDelivery,
    SimClock,
    TransportError,
    decode_state,
    encode_state,
)
from tandem.fleet import FleetProfiles, sample_fleet
from tandem.transport import (
    InProcessTransport,
    Transport,
    collect_updates,
    deliver_model,
    receive_models,
    submit_update,
)

# device: downlink, uplink (Mbit/s), RTT (ms) — values exact in float32
DOWN, UP, RTT = [8.0, 16.0, 1.0], [2.0, 4.0, 0.5], [50.0, 20.0, 100.0]


def make_fleet() -> FleetProfiles:
    return FleetProfiles(
        tier=[0, 0, 0],
        compute_gflops=[1.0, 1.0, 1.0],
        memory_mb=[1e3, 1e3, 1e3],
        uplink_mbps=UP,
        downlink_mbps=DOWN,
        rtt_ms=RTT,
        availability=[1.0, 1.0, 1.0],
        tier_names=("test",),
    )


def down_s(d: int, n: int) -> float:
    return RTT[d] / 1e3 + n * 8 / (DOWN[d] * 1e6)


def up_s(d: int, n: int) -> float:
    return RTT[d] / 1e3 + n * 8 / (UP[d] * 1e6)


@pytest.fixture
def transport():
    return InProcessTransport(make_fleet())


@pytest.fixture
def payload():
    return encode_state({"w": torch.randn(50, 40, generator=torch.Generator().manual_seed(0))}, "fp16")


def test_send_to_device_charges_real_bytes_and_time(transport, payload):
    n = len(payload)
    r = transport.send_to_device(0, "model", payload, {"version": 1})
    assert (r.device_id, r.kind, r.n_bytes) == (0, "model", n)
    assert r.seconds == pytest.approx(down_s(0, n)) and r.arrives_at == pytest.approx(down_s(0, n))
    assert transport.ledger.bytes_down == n and transport.ledger.messages_down == 1
    (msg,) = transport.receive_on_device(0)
    assert msg.payload == payload and msg.meta == {"version": 1} and msg.arrives_at == r.arrives_at
    assert transport.receive_on_device(0) == []
    # a second message to the same device queues behind the first on its link
    r2 = transport.send_to_device(0, "model", payload)
    assert r2.arrives_at == pytest.approx(2 * down_s(0, n))


def test_broadcast_charges_once_per_device(transport, payload):
    n = len(payload)
    r = transport.broadcast(np.array([2, 0]), "model", payload)
    assert r.n_bytes == n and r.total_bytes == 2 * n
    np.testing.assert_allclose(r.seconds, [down_s(2, n), down_s(0, n)])
    np.testing.assert_allclose(r.arrives_at, r.seconds)
    led = transport.link.ledger
    assert led.bytes_down.tolist() == [n, 0, n] and transport.ledger.messages_down == 2
    assert [m.payload for m in transport.receive_on_device(2)] == [payload]
    assert transport.receive_on_device(1) == []
    assert len(transport.receive_on_device(0)) == 1 and transport.receive_on_device(0) == []


def test_updates_go_up_after_device_compute_and_the_cloud_waits(transport, payload):
    n = len(payload)
    transport.clock.occupy(np.array([0, 1]), np.array([3.0, 1.0]))  # local training time
    r0 = transport.send_to_cloud(0, "update", payload, {"round": 0})
    r1 = transport.send_to_cloud(1, "update", payload, {"round": 0})
    assert r0.sent_at == 3.0 and r0.arrives_at == pytest.approx(3.0 + up_s(0, n))
    assert r1.sent_at == 1.0 and r1.arrives_at == pytest.approx(1.0 + up_s(1, n))
    assert transport.ledger.bytes_up == 2 * n
    # with a deadline between the two arrivals the straggler stays pending
    early = transport.receive_on_cloud(until=2.0)
    assert [m.device_id for m in early] == [1] and transport.clock.now == 2.0
    late = transport.receive_on_cloud()
    assert [m.device_id for m in late] == [0] and transport.clock.now == pytest.approx(r0.arrives_at)
    assert transport.ledger.now_s == transport.clock.now


def test_kinds_filter_and_order_is_send_order(transport):
    transport.send_to_device(1, "mask", b"m1")
    transport.broadcast([0, 1], "model", b"b1")
    transport.send_to_device(1, "model", b"m2")
    assert [m.payload for m in transport.receive_on_device(1, "model")] == [b"b1", b"m2"]
    assert [m.payload for m in transport.receive_on_device(1)] == [b"m1"]
    transport.send_to_cloud(2, "infer", b"q")
    transport.send_to_cloud(2, "update", b"u")
    assert [m.payload for m in transport.receive_on_cloud("update")] == [b"u"]
    assert [m.kind for m in transport.receive_on_cloud()] == ["infer"]


def test_bad_sends_raise_and_change_nothing(transport, payload):
    small = InProcessTransport(make_fleet(), max_payload_bytes=100)
    cases = [
        lambda t: t.send_to_device(3, "model", b"x"),
        lambda t: t.send_to_device(True, "model", b"x"),
        lambda t: t.send_to_cloud(-1, "update", b"x"),
        lambda t: t.broadcast([0, 5], "model", b"x"),
        lambda t: t.broadcast([0, 1, 0], "model", b"x"),
        lambda t: t.broadcast([[0, 1]], "model", b"x"),
        lambda t: t.send_to_device(0, "model", "not bytes"),
        lambda t: t.send_to_device(0, "", b"x"),
        lambda t: t.send_to_device(0, "model", b"x", {"f": object()}),
        lambda t: t.send_to_cloud(0, "update", b"x", {"blob": "y" * 5000}),
    ]
    for t in (transport, small):
        for case in cases:
            with pytest.raises(TransportError):
                case(t)
    with pytest.raises(TransportError, match="over max_payload_bytes=100"):
        small.broadcast([0, 1, 2], "model", payload)
    with pytest.raises(TransportError, match="unknown device 3"):
        transport.send_to_device(3, "model", b"x")
    for t in (transport, small):
        assert t.ledger == type(t.ledger)(0, 0, 0, 0, 0.0)
        assert all(t.receive_on_device(d) == [] for d in range(3)) and t.receive_on_cloud() == []
        assert t.clock.busy_until.tolist() == [0.0, 0.0, 0.0]
    transport.close()
    with pytest.raises(TransportError, match="closed"):
        transport.send_to_device(0, "model", b"x")


def test_typed_messages_round_trip_over_the_protocol(transport):
    assert isinstance(transport, Transport)
    state = {"w": torch.ones(4, 3), "steps": torch.tensor(9)}
    model = ModelDelivery("clf", 2, encode_state(state, "int8", meta={"model_id": "clf", "version": 2}))
    receipt = deliver_model(transport, [0, 1, 2], model)
    assert transport.ledger.bytes_down == 3 * model.n_bytes == receipt.total_bytes
    for d in range(3):
        (got,) = receive_models(transport, d)
        assert got == model
        local, meta = decode_state(got.payload)
        assert meta["version"] == 2 and torch.equal(local["steps"], state["steps"])
        update = ClientUpdate(d, 2, 10 * (d + 1), encode_state(local, "fp16"), {"loss": 0.1 * d})
        submit_update(transport, update)
    updates = collect_updates(transport)
    assert sorted(u.device_id for u in updates) == [0, 1, 2]
    assert [u.n_examples for u in sorted(updates, key=lambda u: u.device_id)] == [10, 20, 30]
    assert transport.ledger.bytes_up == sum(u.n_bytes for u in updates)


def test_broadcast_to_a_large_fleet_is_stored_once():
    fleet = sample_fleet(200_000, seed=1)
    t = InProcessTransport(fleet)
    ids = np.arange(0, 200_000, 2)
    r = t.broadcast(ids, "model", b"x" * 1000)
    assert t.ledger.bytes_down == 1000 * ids.size and t.ledger.messages_down == ids.size
    expected = fleet.rtt_ms[ids].astype(float) / 1e3 + 8000 / (fleet.downlink_mbps[ids].astype(float) * 1e6)
    np.testing.assert_allclose(r.seconds, expected)
    assert len(t.receive_on_device(123_456)) == 1 and t.receive_on_device(123_457) == []


def test_link_and_clock_must_cover_the_fleet():
    fleet = make_fleet()
    with pytest.raises(ConfigError):
        InProcessTransport(fleet, clock=SimClock(2))
    with pytest.raises(ConfigError):
        InProcessTransport(fleet, link=Link([1.0], [1.0], [1.0]))
    shared = Link.from_profiles(fleet)
    InProcessTransport(fleet, link=shared).send_to_device(1, "model", b"abcd")
    assert shared.ledger.bytes_down.tolist() == [0, 4, 0]
