"""The page's look: a theme with the system's fonts, the CSS its ``elem_classes`` and ``elem_id``
refer to, and the script behind the keyboard shortcuts (Ctrl/Cmd+Enter runs the open tab's
``galip-run`` button, Esc clicks its ``galip-stop`` one) and the note under a slider whose typed
value was out of range (it says what it was set to). :func:`.launch.launch_app` serves them."""

from __future__ import annotations

import gradio as gr

# System fonts only: nothing is fetched from a font service, the page works offline.
SANS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Noto Sans", "Arial", "sans-serif")
MONO = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace")

CSS = """
.gradio-container { max-width: 1320px !important; margin: 0 auto !important; }
#galip-header { align-items: flex-end; }
#galip-header h1 { font-size: 1.9rem; margin: 0; letter-spacing: -0.01em; }
#galip-header p { margin: 0.15rem 0 0 0; opacity: 0.8; }
#galip-banner { text-align: right; font-size: 0.9rem; opacity: 0.85; }
.galip-hint { font-size: 0.85rem; opacity: 0.75; }
.galip-keys { font-size: 0.8rem; opacity: 0.75; }
.galip-keys kbd { font-family: inherit; border: 1px solid currentColor; border-radius: 4px; padding: 0 4px; opacity: 0.9; }
.galip-status:empty, .galip-error:empty { display: none; }
.galip-error, .galip-error * { color: #b91c1c !important; font-weight: 600; }
.galip-api-only { display: none !important; }
.galip-clamp { color: #b45309; font-size: 0.8rem; margin-top: 2px; }
.galip-clamp:empty { display: none; }
.galip-seed-row { align-items: flex-end; }
.galip-dice { max-width: 7rem; }
.galip-upscale img { width: 100% !important; height: 100% !important; object-fit: contain; }
/* Small images are shown with crisp pixels unless the user picks smooth scaling. */
body:not(.galip-smooth) .galip-pixels img, body:not(.galip-smooth) .galip-pixels video { image-rendering: pixelated; }
/* Gallery captions wrap instead of being cut ("seed 1708129…"). */
#galip-gallery .caption-label, #galip-figures .caption-label {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; max-width: 100% !important;
}
/* History captions: up to three lines across the whole thumbnail (one line showed "Interpola…"). */
#galip-history .caption-label {
  white-space: normal !important; max-width: none !important; left: 2px; right: 2px; bottom: 2px; font-size: 0.62rem; line-height: 1.15;
  display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden !important; opacity: 0.92;
}
/* "Try" tables: a cell is one line (a prompt is never split, "a red / heart"), a keyframe list keeps
   its lines; a table wider than its box scrolls instead of being cut. */
.tr-body td, .tr-body td *, .tr-head th { white-space: pre !important; }
.tr-body td { text-align: left !important; }
/* Notices (toasts) at the bottom right: at the top they covered the header's Small-images setting. */
.toast-wrap { top: auto !important; bottom: var(--size-4) !important; }
/* Interpolate's grid at its natural size (captions readable, one image pixel per screen pixel of the
   made grid), scrolled inside its box instead of shrunk to the panel's height. */
#galip-int-grid { height: auto !important; max-height: none !important; }
#galip-int-grid .image-container, #galip-int-grid .image-frame { height: auto !important; max-height: 760px; overflow: auto !important; display: block !important; }
#galip-int-grid img { max-width: none !important; max-height: none !important; width: auto !important; height: auto !important; object-fit: none !important; }
"""

# Keyboard shortcuts (shown in the header): Ctrl/Cmd+Enter runs the open tab, Esc stops its job.
# Shift+Enter in a multi-line box and Enter in a one-line box are Gradio's own "submit".
HEAD = """
<script>
(() => {
  const visible = (el) => el && el.offsetParent !== null;
  const pick = (cls) => [...document.querySelectorAll('button.' + cls)].find(visible);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { const b = pick('galip-stop'); if (b) { b.click(); } }
    else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { const b = pick('galip-run'); if (b) { e.preventDefault(); b.click(); } }
  });
  // A slider's box takes a typed value only within the slider's range and puts it back in range
  // silently (100 steps becomes 32): say so under the slider, before Gradio changes the value.
  const clampNote = (e) => {
    const box = e.target;
    if (!(box instanceof HTMLInputElement) || box.type !== 'number' || box.min === '' || box.max === '') return;
    if (e.type === 'keydown' && e.key !== 'Enter') return;
    const block = box.closest('.block');
    if (!block || !block.querySelector('input[type=range]')) return;
    let note = block.querySelector('.galip-clamp');
    if (!note) { note = document.createElement('div'); note.className = 'galip-clamp'; block.appendChild(note); }
    const v = Number(box.value), lo = Number(box.min), hi = Number(box.max);
    note.textContent = box.value === '' ? '' : v > hi ? `${box.value} is above the most this allows (${hi}): set to ${hi}.`
      : v < lo ? `${box.value} is below the least this allows (${lo}): set to ${lo}.` : '';
  };
  document.addEventListener('keydown', clampNote, true);
  document.addEventListener('change', clampNote, true);
})();
</script>
"""


def make_theme() -> gr.themes.Base:
    """A soft violet theme that uses the system's fonts (Gradio's defaults would load web fonts)."""
    return gr.themes.Soft(primary_hue="violet", secondary_hue="fuchsia", neutral_hue="slate", font=list(SANS), font_mono=list(MONO)).set(
        block_radius="12px", button_large_radius="10px"
    )
