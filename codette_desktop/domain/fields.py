"""Typed access to the fields of one JSON object; every failure names the field."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from codette_desktop.errors import ProtocolError

MAX_ID_CHARS = 128
# JSON may carry lone UTF-16 surrogates ("\ud800"); they are not text, no UTF-8 encoder
# (SQLite's, a log file's) accepts them, so they become U+FFFD on the way in.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    return _LONE_SURROGATE.sub("\ufffd", value) if not value.isascii() else value


class WireFields:
    """Reads fields of a decoded JSON object, raising ``invalid_field`` errors.

    ``prefix`` makes nested names read as the client wrote them
    (``daw_context.tracks[1].peak_level``).
    """

    def __init__(self, values: Mapping[str, Any], prefix: str = "") -> None:
        self.values = values
        self.prefix = prefix

    def name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def bad(self, key: str, expected: str) -> ProtocolError:
        return ProtocolError(
            "invalid_field", f"Field '{self.name(key)}' must be {expected}", field=self.name(key)
        )

    def missing(self, key: str) -> ProtocolError:
        return ProtocolError(
            "invalid_field", f"Field '{self.name(key)}' is required", field=self.name(key)
        )

    def string(self, key: str, *, required: bool = False, max_len: int = 256) -> str | None:
        value = self.values.get(key)
        if value is None:
            if required:
                raise self.missing(key)
            return None
        if not isinstance(value, str):
            raise self.bad(key, "a string")
        if len(value) > max_len:
            raise self.bad(key, f"at most {max_len} characters")
        return clean_text(value)

    def number(
        self, key: str, *, low: float = -math.inf, high: float = math.inf
    ) -> float | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.bad(key, "a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise self.bad(key, f"a number from {low:g} to {high:g}")
        return float(value)

    def integer(self, key: str, *, low: int, high: int) -> int | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.bad(key, f"an integer from {low} to {high}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.bad(key, "true or false")
        return value

    def obj(self, key: str) -> WireFields | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.bad(key, "an object")
        return WireFields(value, f"{self.name(key)}.")

    def array(self, key: str, *, max_items: int = 1000) -> list[Any] | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.bad(key, "a list")
        if len(value) > max_items:
            raise self.bad(key, f"a list of at most {max_items} items")
        return value

    def objects(self, key: str, *, max_items: int = 1000) -> list[WireFields]:
        """A list of objects, each readable with its index in error names."""
        items = self.array(key, max_items=max_items) or []
        out = []
        for index, raw in enumerate(items):
            if not isinstance(raw, dict):
                raise self.bad(f"{key}[{index}]", "an object")
            out.append(WireFields(raw, self.name(f"{key}[{index}].")))
        return out

    def strings(self, key: str, *, max_items: int = 256, max_len: int = 256) -> tuple[str, ...]:
        items = self.array(key, max_items=max_items) or []
        if not all(isinstance(item, str) and len(item) <= max_len for item in items):
            raise self.bad(key, f"a list of strings of at most {max_len} characters")
        return tuple(items)

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        value = self.string(key)
        if value is None:
            return default
        if value not in options:
            raise ProtocolError(
                "invalid_field",
                f"Field '{self.name(key)}' must be one of: {', '.join(options)}",
                field=self.name(key),
            )
        return value

    def identifier(self, key: str) -> str | int | None:
        """A track/entry id: a string of at most 128 characters or an integer."""
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.bad(key, "a string or an integer")
        if isinstance(value, str) and len(value) > MAX_ID_CHARS:
            raise self.bad(key, f"at most {MAX_ID_CHARS} characters")
        return value
