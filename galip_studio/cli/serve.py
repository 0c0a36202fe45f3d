"""``galip-studio serve`` and ``python app.py``: open the GALIP Studio app in a browser.

Heavy imports (torch, gradio) happen inside :func:`serve`, so ``galip-studio --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

from .common import add_model_args, known_errors, load_pipeline

DEFAULT_HOST = "127.0.0.1"


def add_serve_args(parser: argparse.ArgumentParser) -> None:
    """The app's options: which model (the shared model options), where to listen, sharing."""
    add_model_args(parser)
    net = parser.add_argument_group("server")
    net.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only; 0.0.0.0 for your network)")
    net.add_argument("--port", type=int, default=None, help="port (default: 7860, or the next free one)")
    net.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs a network)")
    net.add_argument(
        "--lock-model",
        action="store_true",
        help="hide loading other models in the Model tab (always: also on this machine only)",
    )
    net.add_argument(
        "--allow-model-loading",
        action="store_true",
        help="let visitors load other models even when others can reach the server (--host not 127.0.0.1, or --share); "
        "off by default there",
    )
    net.add_argument(
        "--model-dir",
        metavar="DIR",
        action="append",
        default=[],
        help="a folder whose checkpoints the Model tab may load, besides checkpoints/ and runs/ (repeatable)",
    )
    net.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="ask every visitor for this user name and password (Gradio's login; failed logins are slowed down). "
        "Needed (or --no-auth) when others can reach the server",
    )
    net.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a login even though others can reach the server (--host not 127.0.0.1, or --share)",
    )
    net.add_argument("--max-upload-mb", type=float, default=None, metavar="MB", help="largest upload accepted (default 2048)")


def load_default_pipeline(args: argparse.Namespace):
    """The model the app starts with: ``--official``/``--preset``, else ``--checkpoint`` or the one found."""
    from ..ui.models import resolve_checkpoint

    if not (args.official or args.preset):
        args.checkpoint = str(resolve_checkpoint(args.checkpoint))
    return load_pipeline(args)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    """``USER:PASSWORD`` -> ``(user, password)``; ``None`` when not given."""
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth takes USER:PASSWORD, e.g. --auth alice:a-long-passphrase")
    return user, password


def is_public(args: argparse.Namespace) -> bool:
    """Whether programs on other machines can reach the server: ``--host`` not loopback, or ``--share``."""
    from ..ui.models import is_loopback

    return bool(args.share) or not is_loopback(args.host)


def check_login(args: argparse.Namespace) -> str | None:
    """Refuse to serve others without a decision about a login; the warning to print, if any.

    A server others can reach needs ``--auth USER:PASSWORD`` or an explicit ``--no-auth`` (then
    the warning says that anyone who reaches it can use it)."""
    auth, no_auth = getattr(args, "auth", None), getattr(args, "no_auth", False)
    if auth is not None and no_auth:
        raise ValueError("--auth and --no-auth contradict each other; give one of them")
    if not is_public(args) or auth is not None:
        return None
    where = "a public gradio.live link (--share)" if args.share else f"--host {args.host}"
    if not no_auth:
        raise ValueError(
            f"with {where} others can reach this app: add --auth USER:PASSWORD to ask for a login, "
            f"or --no-auth to serve it to anyone who can reach it"
        )
    return f"GALIP Studio: warning: no login (--no-auth) and {where}: anyone who can reach it can use this app and this machine's processor"


def model_loading_allowed(args: argparse.Namespace) -> bool:
    """Whether the Model tab may load other models: not with --lock-model, and when others can reach
    the server (--host not loopback, or --share) only with --allow-model-loading."""
    if args.lock_model:
        return False
    return not is_public(args) or args.allow_model_loading


def _stop_on_sigterm() -> None:
    """Make SIGTERM stop the server as Ctrl-C does, so the app's temporary folder is removed."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def serve(args: argparse.Namespace, *, block: bool = True):
    """Load the model, build the app and launch it; returns ``(demo, url)`` when ``block`` is False.

    A blocking server writes into a folder of its own (:func:`server_folder`), removed when it
    stops: normally, on Ctrl-C (SIGINT) or on SIGTERM."""
    auth = parse_auth(getattr(args, "auth", None))
    warning = check_login(args)  # before the model loads: a server open to all fails fast
    for folder in args.model_dir:
        if not os.path.isdir(folder):
            raise ValueError(f"--model-dir {folder}: not a folder")
    pipe = load_default_pipeline(args)  # before importing Gradio: a missing model fails fast
    if block:
        _stop_on_sigterm()
    outdir, cleanup = server_folder() if block else (None, None)  # before Gradio is imported
    try:
        from ..ui.app import build_app
        from ..ui.launch import MAX_UPLOAD_MB, launch_app

        allow = model_loading_allowed(args)
        print(f"GALIP Studio: model {pipe.metadata.get('path') or args.preset} on {pipe.device}")
        if not allow and not args.lock_model:
            print("GALIP Studio: others can reach this server, so loading other models is off (--allow-model-loading turns it on)")
        if warning:
            print(warning, file=sys.stderr)
        # without a folder of the server's, the app's own goes with the app object (tests)
        demo = build_app(pipe, allow_model_loading=allow, device=args.device, model_dirs=args.model_dir, outdir=outdir)
        return launch_app(
            demo, host=args.host, port=args.port, share=args.share, block=block, auth=auth,
            max_upload_mb=args.max_upload_mb or MAX_UPLOAD_MB,
        )
    finally:  # a normal stop, Ctrl-C (SIGINT) or SIGTERM
        if cleanup is not None:
            cleanup()


def server_folder() -> tuple[Path, Callable[[], None]]:
    """This server process's own folder for what the app writes, and what removes it.

    The app's exports go to a new temporary folder (``galip-studio-*``), and Gradio's copies of
    every output and upload (its cache, by default ``/tmp/gradio``, shared by every Gradio server
    of the machine) to ``gradio/`` inside it, unless ``GRADIO_TEMP_DIR`` names another place. The
    folder is new and empty when made, so removing it removes only files this server wrote."""
    from ..ui.exports import export_folder

    folder, cleanup = export_folder(None)
    assert cleanup is not None
    os.environ.setdefault("GRADIO_TEMP_DIR", str(folder / "gradio"))  # before Gradio makes its first block
    return folder, cleanup


def cmd_serve(args: argparse.Namespace) -> int:
    serve(args)
    return 0


DESCRIPTION = (
    "Open GALIP Studio in a browser: generate, interpolation grids, the four-corner blend grid, "
    "style knobs, noise walks with GIF/MP4 export, recipes. Uses the bundled model, else the newest "
    "checkpoint under checkpoints/ (or --checkpoint DIR). Every action is also an API endpoint for gradio_client."
)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """``galip-studio serve [--checkpoint DIR] [--host H] [--port P] [--share]``."""
    p = subparsers.add_parser("serve", help="open the GALIP Studio app in a browser", description=DESCRIPTION)
    add_serve_args(p)
    p.set_defaults(func=cmd_serve)


def main(argv: Sequence[str] | None = None) -> int:
    """``python app.py [options]``: the same as ``galip-studio serve``, with one-line errors."""
    parser = argparse.ArgumentParser(prog="app.py", description=DESCRIPTION)
    add_serve_args(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_serve(args)
    except KeyboardInterrupt:
        return 130
    except known_errors() as e:
        print(f"app.py: error: {e}", file=sys.stderr)
        return 1
