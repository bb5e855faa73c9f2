"""The one cache helper (admin_app.caching) and the key of what is cached per perimeter (Perimeter.fingerprint)."""

from __future__ import annotations

import threading

import pytest

from admin_app.authority import Perimeter
from admin_app.caching import BoundedCache
from models import Habilitation

MANAGER = frozenset({Habilitation.MANAGER})
USER_ADMIN = frozenset({Habilitation.USER_ADMIN})


def test_a_value_is_built_once_then_served():
    cache: BoundedCache[list] = BoundedCache(4)
    built = []
    first = cache.get("a", lambda: built.append("a") or ["value"])
    again = cache.get("a", lambda: built.append("again") or ["other"])
    assert again is first and built == ["a"]


def test_past_its_size_the_value_used_longest_ago_goes():
    cache: BoundedCache[str] = BoundedCache(2)
    cache.get("a", lambda: "A")
    cache.get("b", lambda: "B")
    cache.get("a", lambda: "not built")  # "a" used again: "b" is now the oldest
    cache.get("c", lambda: "C")
    assert len(cache) == 2 and "a" in cache and "c" in cache and "b" not in cache
    assert cache.get("b", lambda: "B again") == "B again"
    assert "a" not in cache  # "c" then "b" used since


def test_many_keys_never_grow_it_past_its_size():
    cache: BoundedCache[int] = BoundedCache(16)
    for key in range(1000):
        cache.get(key, lambda key=key: key)
    assert len(cache) == 16 and all(key in cache for key in range(984, 1000))
    cache.clear()
    assert len(cache) == 0


def test_threads_sharing_it_get_one_value_per_key_and_its_bound():
    cache: BoundedCache[str] = BoundedCache(8)
    errors = []

    def work(offset: int) -> None:
        try:
            for key in range(200):
                assert cache.get((key + offset) % 50, lambda key=key: f"v{(key + offset) % 50}") == f"v{(key + offset) % 50}"
        except AssertionError as exc:  # pragma: no cover - what the test would report
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(cache) == 8


def test_a_cache_keeps_at_least_one_value():
    with pytest.raises(ValueError):
        BoundedCache(0)


def test_the_fingerprint_names_what_a_perimeters_statements_depend_on():
    everything = Perimeter(actor_id=1, unrestricted=True)
    assert everything.fingerprint is None
    assert Perimeter(actor_id=None, unrestricted=True).fingerprint == everything.fingerprint  # the system, staff
    luke = Perimeter(actor_id=2, unrestricted=False, held={10: MANAGER, 11: USER_ADMIN})
    peer = Perimeter(actor_id=3, unrestricted=False, held={11: USER_ADMIN, 10: MANAGER})
    assert luke.fingerprint == peer.fingerprint and hash(luke.fingerprint) == hash(peer.fingerprint)
    assert luke.fingerprint is not None
    other_site = Perimeter(actor_id=2, unrestricted=False, held={10: MANAGER})
    other_rights = Perimeter(actor_id=2, unrestricted=False, held={10: USER_ADMIN, 11: USER_ADMIN})
    nothing = Perimeter(actor_id=4, unrestricted=False)
    assert len({luke.fingerprint, other_site.fingerprint, other_rights.fingerprint, nothing.fingerprint, None}) == 5
