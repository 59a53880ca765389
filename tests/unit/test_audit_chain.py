from hoop.domain.audit import GENESIS, event_hash


def test_hash_links_and_detects_change():
    e1 = {"id": 1, "action": "a", "after": {"qty": "1"}}
    h1 = event_hash(GENESIS, 1, e1)
    h2 = event_hash(h1, 2, {"id": 2, "action": "b"})
    assert h1 != h2 and len(h1) == 64
    assert event_hash(GENESIS, 1, {**e1, "after": {"qty": "2"}}) != h1
    assert event_hash("f" * 64, 1, e1) != h1
    assert event_hash(GENESIS, 1, dict(reversed(list(e1.items())))) == h1  # key order free
