"""`cip serve`: one checkpoint behind OpenAI-compatible /v1/completions and /v1/chat/completions.

Lets the judge protocol (and any OpenAI-style client) talk to our own models
over plain HTTP. Requests are served one at a time (a lock around the model);
chat messages are rendered with a plain "User: / Assistant:" template.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid

from code_in_pretraining.eval.generate import SamplingConfig

CHAT_STOP = ("\nUser:", "\nSystem:")


def render_chat(messages: list[dict]) -> str:
    lines = [f"{m.get('role', 'user').capitalize()}: {m.get('content', '')}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


class Handler(http.server.BaseHTTPRequestHandler):
    lm = None
    model_name = "cip"
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path in ("/health", "/v1/health"):
            return self._send(200, {"status": "ok"})
        if self.path == "/v1/models":
            return self._send(200, {"object": "list", "data": [{"id": self.model_name, "object": "model"}]})
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        except json.JSONDecodeError as e:
            return self._send(400, {"error": {"message": f"bad JSON: {e}"}})
        if self.path == "/v1/completions":
            prompts = body.get("prompt", "")
            prompts = [prompts] if isinstance(prompts, str) else list(prompts)
            texts = self._generate(prompts, body, ())
            choices = [{"index": i, "text": t, "finish_reason": "stop", "logprobs": None}
                       for i, t in enumerate(texts)]
            return self._send(200, self._envelope("text_completion", choices))
        if self.path == "/v1/chat/completions":
            text = self._generate([render_chat(body.get("messages", []))], body, CHAT_STOP)[0]
            choices = [{"index": 0, "message": {"role": "assistant", "content": text.strip()},
                        "finish_reason": "stop"}]
            return self._send(200, self._envelope("chat.completion", choices))
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def _generate(self, prompts, body, extra_stop) -> list[str]:
        stop = body.get("stop") or []
        stop = [stop] if isinstance(stop, str) else list(stop)
        sampling = SamplingConfig(max_new_tokens=int(body.get("max_tokens") or 64),
                                  temperature=float(body.get("temperature", 0.0) or 0.0),
                                  top_p=float(body.get("top_p", 1.0) or 1.0), stop=tuple(stop) + extra_stop)
        with self.lock:
            return self.lm.generate(prompts, sampling, seed=int(body.get("seed") or 0))

    def _envelope(self, obj: str, choices: list[dict]) -> dict:
        return {"id": f"cip-{uuid.uuid4().hex[:12]}", "object": obj, "created": int(time.time()),
                "model": self.model_name, "choices": choices,
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def make_server(lm, host: str, port: int, model_name: str = "cip") -> http.server.ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"lm": lm, "model_name": model_name, "lock": threading.Lock()})
    return http.server.ThreadingHTTPServer((host, port), handler)
