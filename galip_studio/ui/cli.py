"""``galip-studio serve`` and ``python app.py``: open the GALIP Studio app in a browser.

Heavy imports (torch, gradio) happen inside :func:`serve`, so ``galip-studio --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

DEFAULT_HOST = "127.0.0.1"


def add_serve_args(parser: argparse.ArgumentParser) -> None:
    """The app's options: which model (the shared model options), where to listen, sharing."""
    from ..cli import add_model_args

    add_model_args(parser)
    net = parser.add_argument_group("server")
    net.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only; 0.0.0.0 for your network)")
    net.add_argument("--port", type=int, default=None, help="port (default: 7860, or the next free one)")
    net.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs a network)")
    net.add_argument(
        "--lock-model",
        action="store_true",
        help="hide loading other models in the Model tab (advisable when others can reach the server)",
    )


def load_default_pipeline(args: argparse.Namespace):
    """The model the app starts with: ``--official``/``--preset``, else ``--checkpoint`` or the one found."""
    from ..cli import load_pipeline
    from .models import resolve_checkpoint

    if not (args.official or args.preset):
        args.checkpoint = str(resolve_checkpoint(args.checkpoint))
    return load_pipeline(args)


def serve(args: argparse.Namespace, *, block: bool = True):
    """Load the model, build the app and launch it; returns ``(demo, url)`` when ``block`` is False."""
    pipe = load_default_pipeline(args)  # before importing Gradio: a missing model fails fast

    from .app import build_app, launch_app

    print(f"GALIP Studio: model {pipe.metadata.get('path') or args.preset} on {pipe.device}")
    demo = build_app(pipe, allow_model_loading=not args.lock_model, device=args.device)
    return launch_app(demo, host=args.host, port=args.port, share=args.share, block=block)


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
    from ..cli import _known_errors

    parser = argparse.ArgumentParser(prog="app.py", description=DESCRIPTION)
    add_serve_args(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_serve(args)
    except KeyboardInterrupt:
        return 130
    except _known_errors() as e:
        print(f"app.py: error: {e}", file=sys.stderr)
        return 1
