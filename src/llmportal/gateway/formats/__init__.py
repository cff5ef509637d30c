"""Wire formats at the edge. openai and anthropic offer the same functions:

client side   parse_request(body) -> ChatRequest (FormatError: 400), render_response(resp),
              render_stream(events) -> SSE bytes ending the stream, render_stream_error(message)
              -> the error event(s) and `data: [DONE]` (the whole end of a failed stream);
upstream side build_request(req, upstream_model), parse_response(body), StreamParser().feed(chunk)
              and .close(); both raise UpstreamFormatError (a ValueError, not a FormatError: 502).
detect.detect_format(body) picks one for /api/chat/completions.
"""
