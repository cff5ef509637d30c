"""orjson everywhere: one response class and two helpers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=_OPTS)


def dumps_str(obj: Any) -> str:
    return orjson.dumps(obj, option=_OPTS).decode()


loads = orjson.loads


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content)
