"""OpenAI Images (generations) <-> the internal model, both directions.

Client side: parse_request(body) -> ImageRequest, render_response(result).
Upstream side (the openai provider): build_request, parse_response.
"""

from __future__ import annotations

from typing import Any

from llmportal.gateway.formats._common import (
    UpstreamFormatError,
    now,
    opt_bool,
    opt_int,
    opt_str,
    require_str,
)
from llmportal.gateway.types import FormatError, GeneratedImage, ImageRequest, Images

MAX_IMAGES = 10  # OpenAI's bound on n
MAX_PROMPT_CHARS = 32_000
FORMATS = ("url", "b64_json")


def parse_request(body: dict[str, Any]) -> ImageRequest:
    if not isinstance(body, dict):
        raise FormatError("body: must be a JSON object")
    model = require_str(body, "model", "")
    prompt = require_str(body, "prompt", "")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise FormatError(f"prompt: at most {MAX_PROMPT_CHARS} characters")
    n = opt_int(body, "n", minimum=1)
    if n is not None and n > MAX_IMAGES:
        raise FormatError(f"n: at most {MAX_IMAGES} images per request")
    fmt = body.get("response_format") or "url"
    if fmt not in FORMATS:
        raise FormatError("response_format: must be one of url, b64_json")
    save = bool(opt_bool(body, "save_to_library"))
    if save and fmt != "b64_json":
        raise FormatError('save_to_library: needs response_format "b64_json"')
    return ImageRequest(
        model=model,
        prompt=prompt,
        n=n or 1,
        size=opt_str(body, "size"),
        quality=opt_str(body, "quality"),
        b64_json=fmt == "b64_json",
        style=opt_str(body, "style"),
        user=opt_str(body, "user"),
        save_to_library=save,
    )


def render_response(result: Images) -> dict[str, Any]:
    data = []
    for image in result.images:
        item: dict[str, Any] = {}
        if image.url is not None:
            item["url"] = image.url
        if image.b64_json is not None:
            item["b64_json"] = image.b64_json
        if image.revised_prompt is not None:
            item["revised_prompt"] = image.revised_prompt
        if image.library_item_id is not None:
            item["library_item_id"] = image.library_item_id
        data.append(item)
    return {"created": result.created, "data": data}


def build_request(req: ImageRequest, upstream_model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": upstream_model, "prompt": req.prompt, "n": req.n}
    body["response_format"] = "b64_json" if req.b64_json else "url"
    for key in ("size", "quality", "style", "user"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    return body


def parse_response(body: Any, wanted_b64: bool) -> Images:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise UpstreamFormatError("upstream answer has no images")
    images = []
    for i, item in enumerate(body["data"]):
        if not isinstance(item, dict):
            raise UpstreamFormatError(f"upstream image {i} is not an object")
        url, b64 = item.get("url"), item.get("b64_json")
        if not isinstance(b64 if wanted_b64 else url, str):
            what = "b64_json" if wanted_b64 else "url"
            raise UpstreamFormatError(f"upstream image {i} has no {what}")
        revised = item.get("revised_prompt")
        images.append(
            GeneratedImage(
                url=url if isinstance(url, str) else None,
                b64_json=b64 if isinstance(b64, str) else None,
                revised_prompt=revised if isinstance(revised, str) else None,
            )
        )
    if not images:
        raise UpstreamFormatError("upstream answered no images")
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}
    created = body.get("created")
    return Images(
        created=int(created) if isinstance(created, int | float) else now(),
        images=images,
        prompt_tokens=int(usage.get("input_tokens") or 0),
    )
