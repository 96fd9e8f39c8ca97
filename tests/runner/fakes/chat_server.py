"""A tiny OpenAI-compatible Chat Completions server on 127.0.0.1, for tests.

It answers each POST to ``/v1/chat/completions`` with the next scripted
action (a tool call or a text), in the response shape vLLM, Ollama and
llama.cpp serve, and keeps every request (path, headers, body).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A scripted model: each action becomes one response.
Action = tuple[str, dict[str, Any]]
READ: Action = ("read_file", {"path": "train.py"})
EDIT: Action = ("edit_train_py", {"old_text": "MATRIX_LR = 0.04", "new_text": "MATRIX_LR = 0.03"})
RUN: Action = (
    "run_experiment",
    {"description": "matrix_lr 0.04 -> 0.03", "hypothesis": "less noise"},
)
TEXT: Action = ("", {"text": "I think I am done."})


def chat_reply(n: int, action: Action) -> dict[str, Any]:
    name, args = action
    message: dict[str, Any] = {"role": "assistant", "content": None if name else args["text"]}
    if name:
        message["tool_calls"] = [
            {
                "id": f"call_{n}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "qwen3-coder",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if name else "stop"}
        ],
        "usage": {"prompt_tokens": 200, "completion_tokens": 40, "total_tokens": 240},
    }


class ChatServer:
    """A tiny OpenAI-compatible server on 127.0.0.1 (what vLLM, Ollama or llama.cpp serve)."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions = list(actions)
        self.seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                body = json.loads(self.rfile.read(length))
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.seen.append((self.path, headers, body))
                action = server.actions.pop(0) if server.actions else TEXT
                data = json.dumps(chat_reply(len(server.seen), action)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
