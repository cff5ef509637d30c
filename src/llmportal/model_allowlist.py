"""Model allow-lists: model ids and fnmatch-style patterns (`gpt-4o*`, `local/*`, `*-mini`).

A caller may carry several lists (an API key's today, its organization's later): a model is
allowed when every list that is not None lets it through. None allows every model; an empty
list allows none.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

MODELS_MAX = 100
MODEL_PATTERN_MAX = 200  # the usage rows keep 200 characters of a model id
_GLOB = re.compile(r"[*?\[]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_pattern(entry: str) -> bool:
    return _GLOB.search(entry) is not None


@lru_cache(maxsize=4096)
def _matcher(entries: tuple[str, ...]) -> Callable[[str], bool]:
    exact = frozenset(e for e in entries if not is_pattern(e))
    globs = [fnmatch.translate(e) for e in entries if is_pattern(e)]
    if not globs:
        return exact.__contains__
    # Case-sensitive (fnmatchcase's rules) on every OS: the catalogue's model ids are.
    regex = re.compile("|".join(globs))
    return lambda model: model in exact or regex.match(model) is not None


def allowed(model: str, *lists: Sequence[str] | None) -> bool:
    """Whether every list that is not None allows `model`."""
    return all(entries is None or _matcher(tuple(entries))(model) for entries in lists)


def normalize_models(entries: list[str]) -> list[str]:
    """Stripped entries, duplicates dropped (first kept); a ValueError names a bad one."""
    if not entries:
        raise ValueError("must list at least one model id or pattern (null allows every model)")
    out: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            raise ValueError("entries must not be empty")
        if len(entry) > MODEL_PATTERN_MAX:
            raise ValueError(f"'{entry[:40]}…' is longer than {MODEL_PATTERN_MAX} characters")
        if _CONTROL.search(entry):
            raise ValueError(f"{entry!r} contains a control character")
        if entry not in out:
            out.append(entry)
    return out
