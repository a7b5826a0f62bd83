"""A fake Telegram Bot API server on 127.0.0.1 for the real python-telegram-bot to talk to."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

BOT_ID = 7000001
BOT_USER = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Rebalance",
    "username": "rebalance_test_bot",
}
SEND_METHODS = {
    "sendMessage",
    "sendPhoto",
    "sendDocument",
    "editMessageText",
    "editMessageReplyMarkup",
}


# What Telegram's HTML parse mode accepts (tag names are case-insensitive there).
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
    "code", "pre", "blockquote", "tg-emoji",
}  # fmt: skip
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
MAX_TEXT = 4096


def html_error(text: str) -> str | None:
    """Why Telegram would refuse `text` in HTML parse mode (None when it would not)."""
    stack: list[str] = []
    cursor = 0
    while (start := text.find("<", cursor)) >= 0:
        end = text.find(">", start)
        if end < 0:
            return f"Can't parse entities: unclosed start tag at byte offset {start}"
        inner = text[start + 1 : end]
        if inner.startswith("/"):
            name = inner[1:].strip().lower()
            if not stack or stack[-1] != name:
                return f"Can't parse entities: unexpected end tag at byte offset {start}"
            stack.pop()
        else:
            match = _TAG_NAME.match(inner)
            if match is None or match.group().lower() not in HTML_TAGS:
                return (
                    f'Can\'t parse entities: unsupported start tag "{inner}" at byte offset {start}'
                )
            stack.append(match.group().lower())
        cursor = end + 1
    if stack:
        return (
            f"Can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    visible = re.sub(r"<[^>]*>", "", text)
    visible = re.sub(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);", "x", visible)
    if len(visible) > MAX_TEXT:
        return "message is too long"
    return None


@dataclass
class SentMessage:
    """Something the bot put into a chat: a message, a photo, or an edit of an earlier message."""

    chat_id: int
    message_id: int
    kind: str  # text | photo | edit
    text: str = ""
    reply_markup: dict[str, Any] | None = None
    photo_bytes: int = 0
    parse_mode: str | None = None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    def button(self, text_part: str) -> dict[str, Any]:
        for button in self.buttons:
            if text_part in button.get("text", ""):
                return button
        raise KeyError(f"no button with {text_part!r} in {[b.get('text') for b in self.buttons]}")


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200
    time: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    method: str
    kind: str  # 429 | 400 | 500 | 502 | 403 | timeout
    remaining: int
    chat_id: int | None = None
    retry_after: int = 1


class FakeTelegram:
    """The Bot API for one bot token; tests push user updates and read what the bot sent."""

    def __init__(
        self,
        token: str = "123456789:AAF-fake-token-for-loopback-tests-only",
        *,
        enforce_limits: bool = False,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
    ) -> None:
        self.token = token
        self.enforce_limits = enforce_limits
        self.global_per_second = global_per_second
        self.per_chat_per_second = per_chat_per_second
        self.calls: list[Call] = []
        self.sent: dict[int, list[SentMessage]] = defaultdict(list)
        self.deleted: dict[int, list[int]] = defaultdict(list)
        self.answered: list[dict[str, Any]] = []
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.blocked: set[int] = set()
        self.faults: list[Fault] = []
        self.html_errors: list[str] = []
        self.too_many_requests = 0
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._bot_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._cursor: dict[int, int] = defaultdict(int)
        self._changed = asyncio.Condition()
        self._sends: deque[float] = deque()
        self._chat_sends: dict[int, deque[float]] = defaultdict(deque)
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.port = 0
        # setWebhook: where updates go instead of getUpdates, and the secret sent with each.
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.webhook_statuses: list[int] = []
        self._deliveries: set[asyncio.Task[int]] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- what users do -----------------------------------------------------------------------------

    def _user(self, user_id: int, language_code: str, first_name: str) -> dict[str, Any]:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }

    def _chat(self, chat_id: int, chat_type: str, first_name: str) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = "Some group"
        return chat

    def push_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str = "en",
        first_name: str = "Test",
        chat_type: str = "private",
    ) -> int:
        """A user sends `text`; returns the new message's id (so tests can check its deletion)."""
        update = self.text_update(
            chat_id,
            text,
            user_id=user_id,
            language_code=language_code,
            first_name=first_name,
            chat_type=chat_type,
        )
        message = update["message"]
        self._user_messages[(chat_id, message["message_id"])] = message
        self._push(update)
        return int(message["message_id"])

    def push_edit(
        self, chat_id: int, message_id: int, text: str, *, language_code: str = "en"
    ) -> None:
        """The user edits their earlier message `message_id` to read `text`."""
        message = dict(self._user_messages.get((chat_id, message_id)) or {})
        if not message:
            raise KeyError(f"no user message {message_id} in chat {chat_id}")
        message.update(text=text, edit_date=int(time.time()))
        message.pop("entities", None)
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self._user_messages[(chat_id, message_id)] = message
        self._push({"edited_message": message})

    def push_business_message(
        self, chat_id: int, text: str, *, user_id: int, connection_id: str = "bc1"
    ) -> None:
        """A message in a Business chat the bot manages for someone: not the chat's own user."""
        update = self.text_update(chat_id, text, user_id=user_id)
        message = update["message"]
        message["business_connection_id"] = connection_id
        self._push({"business_message": message})

    def push_photo(
        self, chat_id: int, *, user_id: int | None = None, language_code: str = "en"
    ) -> int:
        message_id = next(self._message_ids[chat_id])
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id, "private", "Test"),
            "from": self._user(user_id or abs(chat_id), language_code, "Test"),
            "photo": [{"file_id": "f1", "file_unique_id": "u1", "width": 10, "height": 10}],
        }
        self._user_messages[(chat_id, message_id)] = message
        self._push({"message": message})
        return message_id

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str = "en",
    ) -> str:
        """A user presses an inline button with `data` under the bot's message `message_id`."""
        callback_id = f"cb{next(self._update_ids)}"
        message = self._bot_messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id, "private" if chat_id > 0 else "group", "Test"),
            "from": BOT_USER,
            "text": "…",
        }
        self._push(
            {
                "callback_query": {
                    "id": callback_id,
                    "from": self._user(user_id or abs(chat_id), language_code, "Test"),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                    "message": message,
                }
            }
        )
        return callback_id

    def _push(self, payload: dict[str, Any]) -> None:
        payload["update_id"] = next(self._update_ids)
        if self.webhook_url is not None:  # as Telegram does: POSTed, with the secret header
            task = asyncio.get_running_loop().create_task(
                self.post_update(payload, secret_token=self.webhook_secret)
            )
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
            return
        self._updates.append(payload)
        asyncio.get_running_loop().create_task(self._notify())

    async def post_update(self, payload: dict[str, Any], *, secret_token: str | None) -> int:
        """POST one update to the webhook (a forger may leave out or guess the secret)."""
        assert self.webhook_url is not None, "no webhook set"
        payload.setdefault("update_id", next(self._update_ids))
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook_url, data=json.dumps(payload), headers=headers) as answer,
        ):
            self.webhook_statuses.append(answer.status)
            return answer.status

    def text_update(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str = "en",
        first_name: str = "Test",
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """An update carrying a new message, not yet sent anywhere (forgeries use it as is)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids[chat_id]),
            "date": int(time.time()),
            "chat": self._chat(chat_id, chat_type, first_name),
            "from": self._user(user_id or abs(chat_id), language_code, first_name),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"message": message}

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- what tests read -----------------------------------------------------------------------------

    def messages(self, chat_id: int) -> list[SentMessage]:
        return list(self.sent[chat_id])

    def call_list(self, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if method is None or c.method == method]

    async def wait_for_message(
        self, chat_id: int, *, predicate: Any = None, timeout: float = 10.0
    ) -> SentMessage:
        """The next message (or edit) to `chat_id` not yet consumed by an earlier wait."""

        def ready() -> SentMessage | None:
            items = self.sent[chat_id]
            while self._cursor[chat_id] < len(items):
                item = items[self._cursor[chat_id]]
                self._cursor[chat_id] += 1
                if predicate is None or predicate(item):
                    return item
            return None

        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    found = ready()
                    if found is not None:
                        return found
                    await self._changed.wait()

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            async with self._changed:
                while not predicate():
                    await self._changed.wait()

    def drain(self, chat_id: int) -> list[SentMessage]:
        """Everything not yet consumed in this chat, consuming it."""
        items = self.sent[chat_id][self._cursor[chat_id] :]
        self._cursor[chat_id] = len(self.sent[chat_id])
        return items

    def inject(
        self,
        method: str,
        kind: str,
        *,
        count: int = 1,
        chat_id: int | None = None,
        retry_after: int = 1,
    ) -> None:
        self.faults.append(Fault(method, kind, count, chat_id, retry_after))

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    # --- the API -------------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], int]:
        params: dict[str, Any] = {}
        photo_bytes = 0
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.filename:  # type: ignore[union-attr]
                    photo_bytes = len(data)
                    params[part.name or "file"] = "<file>"  # type: ignore[union-attr]
                else:
                    params[part.name or ""] = data.decode()  # type: ignore[union-attr]
        elif request.can_read_body:
            if request.content_type == "application/json":
                params = await request.json()
            else:
                params = dict(await request.post())
        for key in ("reply_markup", "commands", "scope", "entities", "allowed_updates", "media"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params, photo_bytes

    def _fault(self, method: str, chat_id: int | None) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and fault.method == method and fault.chat_id in (None, chat_id):
                fault.remaining -= 1
                return fault
        return None

    def _limited(self, chat_id: int | None) -> int | None:
        """Seconds to wait when Telegram's limits would be broken by one more message."""
        if not self.enforce_limits:
            return None
        now = time.monotonic()
        while self._sends and now - self._sends[0] >= 1.0:
            self._sends.popleft()
        chat = self._chat_sends[chat_id or 0]
        while chat and now - chat[0] >= 1.0:
            chat.popleft()
        if len(self._sends) >= self.global_per_second or len(chat) >= self.per_chat_per_second:
            return 1
        self._sends.append(now)
        chat.append(now)
        return None

    @staticmethod
    def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
        payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            payload["parameters"] = {"retry_after": retry_after}
        return web.json_response(payload, status=code)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params, photo_bytes = await self._params(request)
        call = Call(method, params)
        self.calls.append(call)
        chat_id = (
            int(params["chat_id"]) if str(params.get("chat_id", "")).lstrip("-").isdigit() else None
        )
        fault = self._fault(method, chat_id)
        if fault is not None:
            call.status = (
                429 if fault.kind == "429" else int(fault.kind) if fault.kind.isdigit() else 504
            )
            if fault.kind == "429":
                self.too_many_requests += 1
                return self._error(
                    429, f"Too Many Requests: retry after {fault.retry_after}", fault.retry_after
                )
            await self._notify()
            if fault.kind == "403":
                return self._error(403, "Forbidden: bot was blocked by the user")
            if fault.kind == "timeout":
                await asyncio.sleep(30)
            if fault.kind == "400":  # e.g. deleteMessage without the right to delete
                return self._error(400, f"Bad Request: {method} failed: message can't be deleted")
            return self._error(call.status, "Internal Server Error")
        if method in SEND_METHODS and chat_id is not None:
            if chat_id in self.blocked:
                call.status = 403
                await self._notify()
                return self._error(403, "Forbidden: bot was blocked by the user")
            if method in ("sendMessage", "sendPhoto", "sendDocument"):
                wait = self._limited(chat_id)
                if wait is not None:
                    call.status = 429
                    self.too_many_requests += 1
                    return self._error(429, f"Too Many Requests: retry after {wait}", wait)
        if method in SEND_METHODS and params.get("parse_mode") == "HTML":
            problem = html_error(str(params.get("text", params.get("caption", ""))))
            if problem is not None:  # as Telegram answers malformed HTML: nothing is sent
                call.status = 400
                self.html_errors.append(problem)
                await self._notify()
                return self._error(400, f"Bad Request: {problem}")
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return web.json_response({"ok": True, "result": True})
        result = (
            await handler(params, photo_bytes)
            if asyncio.iscoroutinefunction(handler)
            else handler(params, photo_bytes)
        )
        await self._notify()  # waiters may be watching calls, not only messages
        if isinstance(result, web.Response):
            call.status = result.status
            return result
        return web.json_response({"ok": True, "result": result})

    def _api_getMe(self, _p: dict[str, Any], _b: int) -> Any:
        return BOT_USER | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _api_getUpdates(self, params: dict[str, Any], _b: int) -> Any:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and timeout > 0 and not self._closing:
            try:
                async with asyncio.timeout(timeout):
                    async with self._changed:
                        while not self._updates and not self._closing:
                            await self._changed.wait()
            except TimeoutError:
                pass
        return self._updates[:limit]

    def _message(
        self, chat_id: int, message_id: int, params: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": "private" if chat_id > 0 else "group",
                "first_name": "Test",
            },
            "from": BOT_USER,
        }
        if "text" in params:
            message["text"] = params["text"]
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        message.update(extra)
        self._bot_messages[(chat_id, message_id)] = message
        return message

    async def _record(self, item: SentMessage) -> None:
        self.sent[item.chat_id].append(item)
        async with self._changed:
            self._changed.notify_all()

    async def _api_sendMessage(self, params: dict[str, Any], _b: int) -> Any:
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids[chat_id])
        markup = (
            params.get("reply_markup") if isinstance(params.get("reply_markup"), dict) else None
        )
        await self._record(
            SentMessage(
                chat_id,
                message_id,
                "text",
                str(params.get("text", "")),
                markup,
                0,
                params.get("parse_mode"),
            )
        )
        return self._message(chat_id, message_id, params)

    async def _api_sendPhoto(self, params: dict[str, Any], size: int) -> Any:
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids[chat_id])
        await self._record(
            SentMessage(chat_id, message_id, "photo", str(params.get("caption", "")), None, size)
        )
        photo = [
            {
                "file_id": f"p{message_id}",
                "file_unique_id": f"u{message_id}",
                "width": 700,
                "height": 400,
                "file_size": size,
            }
        ]
        return self._message(
            chat_id, message_id, {}, photo=photo, caption=params.get("caption", "")
        )

    async def _api_editMessageText(self, params: dict[str, Any], _b: int) -> Any:
        chat_id = int(params["chat_id"])
        message_id = int(params["message_id"])
        if (chat_id, message_id) not in self._bot_messages:
            return self._error(400, "Bad Request: message to edit not found")
        markup = (
            params.get("reply_markup") if isinstance(params.get("reply_markup"), dict) else None
        )
        await self._record(
            SentMessage(
                chat_id,
                message_id,
                "edit",
                str(params.get("text", "")),
                markup,
                0,
                params.get("parse_mode"),
            )
        )
        return self._message(chat_id, message_id, params)

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any], _b: int) -> Any:
        chat_id = int(params["chat_id"])
        message_id = int(params["message_id"])
        existing = self._bot_messages.get((chat_id, message_id), {})
        return self._message(chat_id, message_id, {"text": existing.get("text", ""), **params})

    def _api_deleteMessage(self, params: dict[str, Any], _b: int) -> Any:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        if (chat_id, message_id) not in self._user_messages and (
            chat_id,
            message_id,
        ) not in self._bot_messages:
            return self._error(400, "Bad Request: message to delete not found")
        self._user_messages.pop((chat_id, message_id), None)
        self._bot_messages.pop((chat_id, message_id), None)
        self.deleted[chat_id].append(message_id)
        return True

    def _api_setWebhook(self, params: dict[str, Any], _b: int) -> Any:
        self.webhook_url = str(params["url"]) or None
        self.webhook_secret = params.get("secret_token") or None
        return True

    def _api_deleteWebhook(self, _p: dict[str, Any], _b: int) -> Any:
        self.webhook_url = self.webhook_secret = None
        return True

    def _api_getWebhookInfo(self, _p: dict[str, Any], _b: int) -> Any:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": 0,
        }

    def _api_answerCallbackQuery(self, params: dict[str, Any], _b: int) -> Any:
        self.answered.append(params)
        return True

    def _api_setMyCommands(self, params: dict[str, Any], _b: int) -> Any:
        scope = params.get("scope") or {"type": "default"}
        key = (json.dumps(scope, sort_keys=True), str(params.get("language_code") or ""))
        self.commands[key] = list(params.get("commands") or [])
        return True

    def _api_getMyCommands(self, params: dict[str, Any], _b: int) -> Any:
        scope = params.get("scope") or {"type": "default"}
        key = (json.dumps(scope, sort_keys=True), str(params.get("language_code") or ""))
        return self.commands.get(key, [])

    def menu(
        self, language_code: str = "", scope: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        key = (json.dumps(scope or {"type": "default"}, sort_keys=True), language_code)
        return self.commands.get(key, [])
