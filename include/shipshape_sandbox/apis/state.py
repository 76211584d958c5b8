"""What an API emulation keeps for one sandbox: its state object, made on first use and dropped with the
sandbox (:class:`PerSandbox`), and listings memoised for the world's current revision
(:func:`cached_for_revision`)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

State = TypeVar("State")


class PerSandbox(Generic[State]):
    """``state_for(sandbox)``: the state ``make(sandbox)`` made for that sandbox, made on first use; tests
    reach it to drive an emulation's clock."""

    def __init__(self, make: Callable[[Any], State]) -> None:
        self._make = make
        self._states: weakref.WeakKeyDictionary[Any, State] = weakref.WeakKeyDictionary()

    def __call__(self, sandbox: Any) -> State:
        state = self._states.get(sandbox)
        if state is None:
            state = self._states[sandbox] = self._make(sandbox)
        return state


def cached_for_revision(cache: dict[tuple, Any], revision: int, key: tuple, compute: Callable[[], Any],
                        limit: int = 64) -> Any:
    """``compute()`` memoised in ``cache`` under ``key`` while the world stays at ``revision`` (a sync pages
    the same filter many times); the cache is emptied once it holds more than ``limit`` answers."""
    full = (revision, *key)
    hit = cache.get(full)
    if hit is None:
        if len(cache) > limit:
            cache.clear()
        hit = cache[full] = compute()
    return hit
