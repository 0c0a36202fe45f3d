"""The app's tabs, one class per file, each a :class:`~.base.Tab` (its constructor lays it out inside
``gr.Tabs``; ``wire(page)`` connects its events once the whole page exists):

* :mod:`.generate`, :mod:`.interpolate`, :mod:`.blend`, :mod:`.knobs`, :mod:`.walk` — the latent-exploration tabs;
* :mod:`.directions`, :mod:`.prompt_map` — discovered directions and the prompt map;
* :mod:`.your_image` — variations and inversion of an uploaded picture;
* :mod:`.model` — the model's card and loaders; :mod:`.recipe` — make an exported file again;
* :mod:`.base` — what they share: the session's states, the tab pattern, the page's event helpers.

:mod:`..app` lays them out, wires the events between them and builds the app.
"""

from .base import CORNER_DEFAULTS, CORNER_EXAMPLES, Page, Session, Tab
from .blend import BlendTab
from .directions import DirectionsTab
from .generate import LANDING, PICK_HINT, PROMPTS, GenerateTab
from .interpolate import InterpolateTab
from .knobs import KNOB_XY, KnobsTab
from .model import ModelTab
from .prompt_map import PromptMapTab
from .recipe import RecipeTab
from .walk import WalkTab
from .your_image import YourImageTab

__all__ = [
    "CORNER_DEFAULTS", "CORNER_EXAMPLES", "KNOB_XY", "LANDING", "PICK_HINT", "PROMPTS", "Page", "Session", "Tab",
    "BlendTab", "DirectionsTab", "GenerateTab", "InterpolateTab", "KnobsTab", "ModelTab", "PromptMapTab", "RecipeTab", "WalkTab", "YourImageTab",
]
