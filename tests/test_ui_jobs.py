"""The page's Stop buttons on a long job (ui/jobs.py), without a browser: Stop flags the session's job
board and the job's generator ends the run itself, with no output and no error; a run stopped while
it waited never starts; a Stop pressed with nothing to stop does not stop the next run."""

from __future__ import annotations

import threading
import time

from galip_studio import explore
from galip_studio.ui import jobs
from galip_studio.ui.models import DEFAULT_SPEC

calls: list[int] = []


def slow(model, n: int, *, outdir, limits, progress) -> str:
    """A stand-in handler: ``n`` batches of 20 ms, a progress report after each."""
    calls.append(n)
    for i in range(n):
        progress(i, n)
        time.sleep(0.02)
    progress(n, n)
    return "made"


def _start(board: dict, n: int, tmp_path):
    run = jobs.long_job(slow, 1, store=None, outdir=tmp_path, limits=explore.Limits())
    return run(DEFAULT_SPEC, board, n, progress=lambda *a, **k: None)


def _worker_alive() -> bool:
    return any(t.name == "galip-slow" for t in threading.enumerate())


def test_stop_ends_a_running_job_with_no_output_and_no_history(tmp_path):
    board: dict = {}
    jobs.asker(slow, True)(board)
    gen = _start(board, 10_000, tmp_path)
    outputs = [next(gen) for _ in range(3)]  # three polls: the worker is well under way
    notice = jobs.stopper(slow)(board)
    assert "Stopped after" in notice and "of 10,000 images" in notice
    outputs += list(gen)  # ends at the next poll, without raising
    assert "made" not in outputs and jobs.was_stopped(board, slow)
    deadline = time.monotonic() + 10
    while _worker_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _worker_alive(), "the worker kept running after Stop"
    assert board["slow"]["running"] is False and board["slow"]["stop"] is False


def test_a_run_stopped_while_it_waited_never_starts(tmp_path):
    board: dict = {}
    calls.clear()
    jobs.asker(slow, True)(board)  # the click; the queue has not started the run yet
    jobs.stopper(slow)(board)
    assert list(_start(board, 5, tmp_path)) == [] and calls == [] and jobs.was_stopped(board, slow)


def test_stop_with_nothing_to_stop_does_not_stop_the_next_run(tmp_path):
    board: dict = {}
    assert jobs.stopper(slow)(board).startswith("⏹ **Stopped.**")  # idle: only the notice
    assert jobs.asker(slow, True)(board) == ""  # the next click clears the notice
    assert list(_start(board, 5, tmp_path))[-1] == "made" and not jobs.was_stopped(board, slow)
    jobs.stopper(slow, notice=False)(board)  # after the run ended: nothing is flagged
    jobs.asker(slow, False)(board)
    assert list(_start(board, 5, tmp_path))[-1] == "made" and not jobs.was_stopped(board, slow)


def test_closing_the_generator_stops_the_worker(tmp_path):
    """What Gradio does on ``Job.cancel()`` from gradio_client (the API path keeps Gradio's cancel)."""
    board: dict = {}
    gen = _start(board, 10_000, tmp_path)
    next(gen)
    gen.close()
    deadline = time.monotonic() + 10
    while _worker_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _worker_alive() and board["slow"]["running"] is False
