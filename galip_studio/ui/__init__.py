"""The GALIP Studio app (Gradio): ``python app.py`` or ``galip-studio serve``.

* :mod:`.app` — the layout (``build_app``) and ``launch_app``;
* :mod:`.handlers` — what each button does, as plain functions over the library;
* :mod:`.models` — checkpoint discovery and the app-level model store (per-session model choice);
* :mod:`.cli` — the command-line entry points.

Gradio's usage analytics are switched off before Gradio is imported: the app works offline.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
