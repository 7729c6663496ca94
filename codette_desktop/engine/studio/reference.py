"""Reading the reference tables in ``resources/reference/*.json`` strictly.

The tables are data (interval and chord tables, instrument ranges, genre cues, checklist
and chain plans), each cited in its own ``sources``. A malformed table raises
:class:`~codette_desktop.errors.ConfigError` naming the file and the path inside it,
because a silently skipped row would only show up as a wrong answer in the DAW.

Each table module reads its file once through :func:`read_table` and keeps the typed,
frozen result (``functools.cache``); nothing here is mutated after loading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

from codette_desktop.config import resources_dir
from codette_desktop.errors import ConfigError


def reference_dir() -> Path:
    """The folder of the shipped reference tables."""
    return resources_dir() / "reference"


class Record:
    """A JSON object being read into a dataclass; every error names the file and path."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        self._raw = raw
        self.where = where

    def has(self, key: str) -> bool:
        return key in self._raw

    def names(self) -> list[str]:
        """The keys of the object, in file order."""
        return [str(k) for k in self._raw]

    def _get(self, key: str) -> object:
        if key not in self._raw:
            raise ConfigError(f"{self.where}: missing field {key!r}")
        return self._raw[key]

    def value(self, key: str, default: object = None) -> object:
        """The raw JSON value of ``key`` (``default`` when absent), for custom shapes."""
        return self._raw.get(key, default)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.where}.{key}: must be a non-empty string")
        return value.strip()

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) and self._raw[key] is not None else None

    def texts(self, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self._raw.get(key, []) if allow_empty else self._get(key)
        if not isinstance(value, list) or not all(
            isinstance(item, str) and item.strip() for item in value
        ):
            raise ConfigError(f"{self.where}.{key}: must be a list of non-empty strings")
        if not value and not allow_empty:
            raise ConfigError(f"{self.where}.{key}: must not be empty")
        return tuple(item.strip() for item in value)

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.where}.{key}: must be a number")
        if not math.isfinite(value):
            raise ConfigError(f"{self.where}.{key}: must be finite")
        return float(value)

    def integers(self, key: str) -> tuple[int, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{self.where}.{key}: must be a non-empty list of integers")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{self.where}.{key}: must be a non-empty list of integers")
        return tuple(value)

    def record(self, key: str) -> Record:
        return Record(self._get(key), f"{self.where}.{key}")

    def records(self, key: str) -> tuple[Record, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{self.where}.{key}: must be a non-empty list of objects")
        return tuple(Record(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(value))


def read_table(name: str, *, directory: Path | None = None) -> Record:
    """The top-level object of ``<directory>/<name>`` (default: the shipped tables).

    Raises ConfigError when the file is missing, is not JSON, is not an object, or has no
    non-empty ``sources`` list (every table says where its figures come from).
    """
    path = (directory or reference_dir()) / name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"reference table {path}: cannot read JSON: {exc}") from exc
    table = Record(raw, name)
    table.texts("sources")
    return table
