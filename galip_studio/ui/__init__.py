"""The GALIP Studio app (Gradio): ``python app.py`` or ``galip-studio serve``.

* :mod:`.app` — the page: the layout of the tabs, the events between them (``build_app``);
* :mod:`.tabs` — one class per tab (its layout and its events), and the tab pattern they share;
* :mod:`.widgets` — small widget builders several tabs share;
* :mod:`.theme` — the page's look (theme, CSS) and the keyboard shortcuts' script;
* :mod:`.jobs` — how events run the handlers: long jobs in a worker with progress and Stop, quick calls;
* :mod:`.exports` — the folder the app writes exports to, and the Recipe tab's example recipes in it;
* :mod:`.launch` — ``launch_app`` (host, login, upload limit) and the server's one-line log;
* :mod:`.plumbing` — what every handler module shares: user errors, job folders, prompts and seeds
  from text, recipes as text, progress and Stop messages;
* :mod:`.handlers` — what the latent-exploration tabs' buttons do (Generate, Interpolate, Blend grid,
  Style knobs, Noise walk), as plain functions over the library;
* :mod:`.discover_handlers` — what the Directions and Prompt map tabs do;
* :mod:`.invert_handlers` — what the Your image tab does;
* :mod:`.model_handlers` — the Model tab: the model's description and card, switching models, uploads;
* :mod:`.recipe_handlers` — the Recipe tab: read a file's recipe, make the file again;
* :mod:`.history` — the history strip of the session's last results;
* :mod:`.models` — checkpoint discovery and the app-level model store (per-session model choice);
* its command line, ``galip-studio serve`` and ``python app.py``, is :mod:`galip_studio.cli.serve`.

Gradio's usage analytics are switched off before Gradio is imported: the app works offline.
"""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
