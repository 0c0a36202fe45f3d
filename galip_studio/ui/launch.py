"""Launching the app (:func:`launch_app`: host, port, login, upload limit, with the look of
:mod:`.theme`) and the server's log: one line on stderr per user error or failed load, Gradio's own
checks of a value included (no traceback)."""

from __future__ import annotations

import logging
import sys
from typing import Any, Callable

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


def launch_app(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
    quiet: bool = False,
    auth: tuple[str, str] | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
) -> tuple[gr.Blocks, str]:
    """Start the server with the app's theme and CSS; returns ``(demo, local_url)`` once listening
    (``block=False``) or when the server stops (``block=True``).

    ``auth``: a (user, password) pair every visitor must give (Gradio's login page).
    ``max_upload_mb``: the largest upload accepted. Errors other than a user's mistakes reach
    clients as a bare "Error" (``show_error=False``): no exception text leaves the server.
    """
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
        auth=auth,
        max_file_size=f"{max_upload_mb:g}mb",
        quiet=quiet,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
    )
    return demo, url
