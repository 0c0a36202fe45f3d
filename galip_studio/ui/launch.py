"""Launching the app (:func:`launch_app`: host, port, login, upload limit, with the look of
:mod:`.theme`), the login's guard against guessing (:class:`LoginGuard`) and the server's log: one
line on stderr per user error, failed load or failed login, Gradio's own checks of a value included
(no traceback)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
import time
from typing import Any, Awaitable, Callable

import gradio as gr

from .plumbing import user_error
from .theme import CSS, HEAD, make_theme

MAX_UPLOAD_MB = 2048  # the largest file a browser may upload (the official checkpoints are ~1 GB)


def quiet_validation(demo: gr.Blocks) -> None:
    """Gradio's own checks of a value (a slider above its maximum, a choice not in a dropdown) are
    user mistakes too: log them in one line like the handlers' (no traceback), same message."""

    def quiet(block: Any, preprocess: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return preprocess(*args, **kwargs)
            except gr.Error as e:
                if not e.print_exception:
                    raise
                raise user_error(e.message) from None
            except (TypeError, ValueError, OverflowError):  # NaN, Infinity or a string for a number
                raise user_error(f"{getattr(block, 'label', None) or 'An input'}: that is not a value it takes (a finite number?).") from None

        return run

    for block in demo.blocks.values():
        if isinstance(block, gr.components.Component) and not isinstance(block, gr.State):
            block.preprocess = quiet(block, block.preprocess)  # type: ignore[method-assign]

    # A file input given a path instead of an upload (or a file this session did not upload) fails
    # before any component sees it, in Gradio's own move into its cache.
    prepare = demo.preprocess_data

    async def preprocess_data(*args: Any, **kwargs: Any) -> Any:
        from gradio.exceptions import InvalidPathError
        from pydantic import ValidationError

        try:
            return await prepare(*args, **kwargs)
        except (InvalidPathError, ValidationError):
            raise user_error("Upload the file in the page: the app reads only files uploaded in this session.") from None

    demo.preprocess_data = preprocess_data  # type: ignore[method-assign]


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def log_to_stderr() -> None:
    """The app's log (one line per user error or failed load) on stderr, once per process."""
    logger = logging.getLogger("galip_studio.app")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("galip-studio: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


class LoginGuard:
    """Gradio's ``auth=`` check for one user name and password, slowed down after failures.

    The pair is compared in constant time. After ``n`` failed attempts in a row, every attempt first
    waits ``first_delay · 2^(n-1)`` seconds (at most ``max_delay``): 1, 2, 4, ... 30 s by default,
    so 40 guesses take over 15 minutes instead of a fraction of a second. Attempts are checked one
    at a time, so guesses sent in parallel wait as long as guesses in a row; more than
    ``max_waiting`` waiting attempts are refused at once, unchecked. A success, or ``forget_after``
    seconds without a failure, clears the count. Each failure is one line in the server's log.
    """

    def __init__(
        self,
        user: str,
        password: str,
        *,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        forget_after: float = 600.0,
        max_waiting: int = 16,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self._user, self._password = user.encode("utf-8"), password.encode("utf-8")
        self.first_delay, self.max_delay, self.forget_after, self.max_waiting = first_delay, max_delay, forget_after, max_waiting
        self._clock, self._sleep = clock, sleep
        self.failures = 0
        self._last_failure = 0.0
        self._waiting = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mutex: asyncio.Lock | None = None

    def delay(self) -> float:
        """Seconds the next attempt waits before it is checked."""
        if self.failures and self._clock() - self._last_failure > self.forget_after:
            self.failures = 0
        return 0.0 if not self.failures else min(self.max_delay, self.first_delay * 2 ** (self.failures - 1))

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._mutex is None or self._loop is not loop:
            self._loop, self._mutex = loop, asyncio.Lock()
        return self._mutex

    async def check(self, username: str, password: str) -> bool:
        """Whether ``username``/``password`` are right, after the wait that earlier failures set.

        Gradio awaits its ``auth`` callable only when ``inspect.iscoroutinefunction`` says so, which
        is true of this bound method and false of an object with an async ``__call__`` (whose
        coroutine Gradio would take as a truthy "yes"): pass ``guard.check``."""
        if self._waiting >= self.max_waiting:
            logging.getLogger("galip_studio.app").info("login attempt refused unchecked: %d attempts already waiting", self._waiting)
            return False
        self._waiting += 1
        try:
            async with self._lock():
                wait = self.delay()
                if wait:
                    await self._sleep(wait)
                ok = hmac.compare_digest(str(username).encode("utf-8"), self._user)
                ok &= hmac.compare_digest(str(password).encode("utf-8"), self._password)
                if ok:
                    self.failures = 0
                else:
                    self.failures += 1
                    self._last_failure = self._clock()
                    logging.getLogger("galip_studio.app").info(
                        "failed login as %r (%d in a row); the next attempt waits %g s", str(username)[:40], self.failures, self.delay()
                    )
                return ok
        finally:
            self._waiting -= 1


def launch_app(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
    auth: tuple[str, str] | LoginGuard | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
) -> tuple[gr.Blocks, str]:
    """Start the server with the app's theme and CSS; returns ``(demo, local_url)`` once listening
    (``block=False``) or when the server stops (``block=True``).

    ``auth``: a (user, password) pair every visitor must give (Gradio's login page), checked by a
    :class:`LoginGuard` (failed logins slow down the next ones).
    ``max_upload_mb``: the largest upload accepted. Errors other than a user's mistakes reach
    clients as a bare "Error" (``show_error=False``): no exception text leaves the server.
    """
    if isinstance(auth, tuple):
        auth = LoginGuard(*auth)
    check = auth.check if isinstance(auth, LoginGuard) else None
    log_to_stderr()
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=not block,
        theme=make_theme(),
        css=CSS,
        head=HEAD,
        footer_links=["api", "settings"],
        show_error=False,
        auth=check,
        max_file_size=f"{max_upload_mb:g}mb",
        quiet=quiet,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    return demo, url
