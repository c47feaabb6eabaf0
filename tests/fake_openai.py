"""A fake OpenAI-compatible chat server on loopback for tests: scripted replies (valid JSON, malformed
JSON, refusal, slow, HTTP error, cut off at max_tokens), recording every request it receives, and
behaving like one of the three server families in what structured output it accepts:

- "strict": `json_schema` (strict), `json_object` and plain text, as OpenAI, vLLM and Ollama do;
- "json_object": `json_object` with a `schema` and plain text; a `json_schema` request is answered with
  HTTP 500 naming `response_format`, as llama-cpp-python's server does;
- "plain": no `response_format` at all (HTTP 400), plain text only.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    """`with FakeOpenAI(["malformed", {"category": "ring"}]) as server: server.base_url` ...

    Script items: a dict (sent as the JSON content), ("text", str), "malformed", "refusal", "http500",
    ("slow", seconds), ("length", dict) (cut off at max_tokens).
    The last item repeats when the script runs out. A request the family refuses does not use a script item.
    """

    FAMILIES = ("strict", "json_object", "plain")

    def __init__(self, script, family: str = "strict"):
        if family not in self.FAMILIES:
            raise ValueError(f"unknown family {family!r}")
        self.family = family
        self.script = list(script)
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _next(self):
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.requests.append({"path": self.path, "body": body})
                kind = (body.get("response_format") or {}).get("type")
                if fake.family == "json_object" and kind == "json_schema":
                    self._send(500, {"error": {"code": 500, "type": "internal_server_error", "message":
                                               "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
                                               "  Input should be 'text' or 'json_object' [type=literal_error, "
                                               "input_value='json_schema']"}})
                    return
                if fake.family == "plain" and kind is not None:
                    self._send(400, {"error": {"message": "response_format is not supported by this server",
                                               "type": "invalid_request_error", "param": "response_format"}})
                    return
                item = fake._next()
                if isinstance(item, tuple) and item[0] == "slow":
                    time.sleep(item[1])
                    item = {}
                if item == "http500":
                    self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                    return
                message = {"role": "assistant", "content": None, "refusal": None}
                finish = "stop"
                if isinstance(item, tuple) and item[0] == "length":
                    finish, item = "length", item[1]
                if isinstance(item, tuple) and item[0] == "text":
                    message["content"] = item[1]
                elif item == "malformed":
                    message["content"] = '{"category": "ring", "channels": ["amaz'
                elif item == "refusal":
                    message["refusal"] = "I can't help with that."
                else:
                    message["content"] = json.dumps(item)
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [{"index": 0, "finish_reason": finish, "message": message, "logprobs": None}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

            def _send(self, code, payload):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def full_brief(**fields) -> dict:
    """A complete Brief JSON (strict structured outputs send every field)."""
    from tools.models import Brief

    return Brief(**fields).model_dump(mode="json")
