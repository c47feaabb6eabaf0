"""Structured output from any OpenAI-compatible server, negotiated per endpoint.

Servers differ in what they accept: OpenAI, vLLM and Ollama take a strict `json_schema` response format;
llama-cpp-python's server takes `json_object` with a `schema` (and answers a strict schema with HTTP 500);
others take no response format at all. `StructuredClient.ask` tries `json_schema`, and when the server
refuses it (HTTP 400/422, or a 500 whose body names `response_format`) retries once with `json_object` plus
the schema in the request and in the prompt, then plain text asking for JSON, validated against the same
pydantic model. What an endpoint supports is remembered for the rest of the process. Every request sends
`max_tokens`; a request that runs past the timeout is cancelled (its connection closed).

Used by the brief reader and the reply phrasing (agent/llm.py) and the vision-model critique
(tools/critique.py). No environment is read here: the caller passes Settings.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel, ValidationError

Mode = Literal["json_schema", "json_object", "plain"]
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "plain")
MODE_WORDS = {"json_schema": "JSON schemas", "json_object": "JSON objects with a schema", "plain": "JSON replies"}
T = TypeVar("T", bound=BaseModel)

_lock = threading.Lock()
_endpoint_modes: dict[tuple[str, str], int] = {}   # (base url, model) -> index into MODES that works


class Refused(Exception):
    """The server refused the response format (not the content): try the next mode."""

    def __init__(self, mode: Mode, reason: str):
        super().__init__(reason)
        self.mode = mode
        self.reason = reason


class Failed(Exception):
    """A request that gave no usable answer (timeout, connection, HTTP error, reply off the schema)."""


@dataclass
class Answer:
    value: BaseModel
    mode: Mode
    notices: list[str] = field(default_factory=list)


def known_mode(base_url: str, model: str) -> Mode:
    """The structured-output mode this process uses for an endpoint (json_schema until a server refuses it)."""
    with _lock:
        return MODES[_endpoint_modes.get((base_url, model), 0)]


def forget_endpoints() -> None:
    """Forget what endpoints support (tests start each server fresh)."""
    with _lock:
        _endpoint_modes.clear()


def strict_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema in the strict form servers expect for `json_schema` (every property required,
    no additional properties), as the openai library builds it for `parse`."""
    from openai.lib._pydantic import to_strict_json_schema

    return to_strict_json_schema(model)


def server_reason(exc: Exception) -> str:
    """The server's own words for an HTTP error, short."""
    body = getattr(exc, "body", None)
    message = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message", "") if isinstance(error, dict) else str(error)
    message = message or getattr(exc, "message", "") or str(exc)
    message = re.sub(r"\s+", " ", str(message)).strip()
    return message[:200]


def _refuses_format(exc) -> bool:
    status = getattr(exc, "status_code", None)
    if status in (400, 422):
        return True
    text = json.dumps(getattr(exc, "body", None) or "") + str(getattr(exc, "message", ""))
    return status == 500 and bool(re.search(r"response_format|json_schema|response format", text, re.IGNORECASE))


def extract_json(text: str) -> dict:
    """The JSON object in a plain reply (code fences and words around it are ignored)."""
    text = (text or "").strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    start = text.find("{")
    if start < 0:
        raise ValueError("the reply holds no JSON object")
    value, _ = json.JSONDecoder().raw_decode(text[start:])
    if not isinstance(value, dict):
        raise ValueError("the reply's JSON is not an object")
    return value


def _known_fields(model: type[BaseModel], value: dict) -> dict:
    """Keep the fields the model has (a weak model adds keys of its own in json_object / plain mode)."""
    return {k: v for k, v in value.items() if k in model.model_fields}


class StructuredClient:
    """Asks one endpoint for a pydantic model. One per Settings; thread-safe (the openai client is)."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float, max_tokens: int | None = None):
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens   # Settings.llm_max_tokens: overrides every call's default when set
        self._client = None

    def client(self):
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed", timeout=self.timeout,
                                  max_retries=0)
        return self._client

    def tokens(self, default: int) -> int:
        return self.max_tokens or default

    def text(self, model: str, messages: list[dict], *, max_tokens: int, temperature: float = 0) -> str:
        """A plain completion (no structure), `max_tokens` always sent."""
        completion = self.client().chat.completions.create(model=model, messages=messages, temperature=temperature,
                                                           max_tokens=self.tokens(max_tokens))
        return (completion.choices[0].message.content or "").strip() if completion.choices else ""

    def ask(self, model: str, messages: list[dict], schema: type[T], *, max_tokens: int, attempts: int = 2,
            temperature: float = 0) -> Answer:
        """`schema` from the endpoint, in the best mode it supports. Refusals of a mode move to the next one
        (remembered); other failures are retried up to `attempts` times, then raise Failed with the reason."""
        notices: list[str] = []
        errors: list[str] = []
        tries = 0
        while tries < attempts:
            mode = known_mode(self.base_url, model)
            try:
                value = self._request(model, messages, schema, mode, self.tokens(max_tokens), temperature)
            except Refused as exc:
                if not self._downgrade(model, exc.mode):
                    raise Failed(f"the model server refused every structured-output mode ({exc.reason})") from None
                notices.append(f"the model server does not support {MODE_WORDS[exc.mode]} ({exc.reason}); "
                               f"I asked it for {MODE_WORDS[known_mode(self.base_url, model)]} instead")
                continue  # a refusal is not an attempt: the model never ran
            except Failed as exc:
                errors.append(str(exc))
                tries += 1
                continue
            return Answer(value, mode, notices)
        raise Failed(errors[-1] if errors else "no answer")

    def _downgrade(self, model: str, mode: Mode) -> bool:
        with _lock:
            key = (self.base_url, model)
            index = MODES.index(mode)
            if index + 1 >= len(MODES):
                return False
            _endpoint_modes[key] = max(_endpoint_modes.get(key, 0), index + 1)
            return True

    def _request(self, model: str, messages: list[dict], schema: type[T], mode: Mode, max_tokens: int,
                 temperature: float) -> T:
        import openai

        # 1. The request for this mode
        kwargs: dict = {"model": model, "temperature": temperature, "max_tokens": max_tokens}
        body_schema = strict_schema(schema)
        if mode == "json_schema":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": {
                "name": schema.__name__, "schema": body_schema, "strict": True}}
            sent = messages
        else:
            instruction = ("Answer with one JSON object only, no other text, that fits this JSON schema:\n"
                           + json.dumps(body_schema, separators=(",", ":")))
            sent = [*messages, {"role": "system", "content": instruction}]
            if mode == "json_object":
                kwargs["response_format"] = {"type": "json_object", "schema": body_schema}
        # 2. Ask (a timeout closes the connection: the request is cancelled, not left running behind the retry)
        try:
            completion = self.client().chat.completions.create(messages=sent, **kwargs)
        except openai.APITimeoutError:
            raise Failed(f"timed out after {self.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise Failed(f"connection failed: {exc}") from None
        except openai.APIStatusError as exc:
            if mode != "plain" and _refuses_format(exc):
                raise Refused(mode, f"HTTP {exc.status_code}: {server_reason(exc)}") from None
            raise Failed(f"HTTP {exc.status_code}: {server_reason(exc)}") from None
        except openai.OpenAIError as exc:
            raise Failed(type(exc).__name__) from None
        # 3. Read and validate the reply
        if not completion.choices:
            raise Failed("empty reply")
        choice = completion.choices[0]
        message = choice.message
        if getattr(message, "refusal", None):
            raise Failed(f"refused: {message.refusal[:100]}")
        if choice.finish_reason == "length":
            raise Failed(f"the reply was cut off at max_tokens={max_tokens}")
        try:
            value = extract_json(message.content or "")
            return schema.model_validate(_known_fields(schema, value))
        except (ValidationError, ValueError) as exc:
            raise Failed(f"reply did not fit the {schema.__name__} schema: {type(exc).__name__}") from None
