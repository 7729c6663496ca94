"""Fan-out of protocol events to any number of observers (Qt bridge, tests, logs)."""

from __future__ import annotations

import logging

from codette_desktop.protocol.events import Event, Observer

log = logging.getLogger("codette.events")


class ObserverHub:
    """Calls every observer with each event; one failing observer never stops the others."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def has_observers(self) -> bool:
        """Anyone listening? Reporters skip building events nobody consumes."""
        return bool(self._observers)

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def remove(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def __call__(self, event: Event) -> None:
        for observer in tuple(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("observer %r failed on %s", observer, type(event).__name__)
