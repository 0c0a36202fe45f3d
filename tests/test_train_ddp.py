"""A 2-process ``torchrun`` (gloo, CPU) training run: it completes, only rank 0 writes, the ranks
keep identical weights and split each global batch exactly as the sampler says."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from galip_studio.pipeline import GALIPPipeline
from galip_studio.datasets.folders import scan_dataset
from galip_studio.train.data import ShardedBatchSampler
from galip_studio.runlog import read_log

from helpers import make_folder

WORKER = """
import hashlib, json, os, sys
import torch
from galip_studio.train import Trainer, resolve_train_config

data, out, results = sys.argv[1:4]
seen = []
trainer = Trainer(
    resolve_train_config(dict(data_dir=data, out=out, preset="tiny", batch_size=2, amp="none", progress=False, steps=4,
                              log_every=1, save_every=2, sample_every=2, eval_every=4, eval_images=4, sample_captions=2,
                              sample_noise=2, seed=7)),
    callbacks=[lambda info: seen.append({"step": info.step, "epoch": info.epoch, "indices": info.indices})],
)
result = trainer.run()
digest = hashlib.sha256()
for name, p in sorted(trainer.loop.model.state_dict().items()):
    if not name.startswith("clip."):
        digest.update(p.detach().cpu().numpy().tobytes())
rank = int(os.environ["RANK"])
with open(os.path.join(results, f"rank{rank}.json"), "w") as fh:
    json.dump({"seen": seen, "digest": digest.hexdigest(), "status": result.status, "steps": result.steps,
               "world": int(os.environ["WORLD_SIZE"]), "last": str(result.last_checkpoint)}, fh)
"""


def test_torchrun_two_processes_gloo(tmp_path):
    data = make_folder(tmp_path / "data", n=10)
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    results = tmp_path / "results"
    results.mkdir()
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(data), str(run), str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["status"] == "finished" and r["steps"] == 4 and r["world"] == 2 for r in ranks)
    assert ranks[0]["digest"] == ranks[1]["digest"]  # DDP kept G and D identical
    assert ranks[0]["last"].endswith("step_000004") and ranks[1]["last"] == "None"

    samples, _ = scan_dataset(data)
    sampler = ShardedBatchSampler(len(samples), 2, world_size=2, seed=7)  # 10 // 4 = 2 steps per epoch
    for s0, s1 in zip(ranks[0]["seen"], ranks[1]["seen"]):
        assert s0["step"] == s1["step"] and s0["epoch"] == s1["epoch"]
        step_in_epoch = (s0["step"] - 1) % sampler.steps_per_epoch
        assert s0["indices"] + s1["indices"] == sampler.global_batch(s0["epoch"], step_in_epoch)
    assert [s["epoch"] for s in ranks[0]["seen"]] == [0, 0, 1, 1]

    records = read_log(run / "log.jsonl")
    assert [r["step"] for r in records if "event" not in r] == [1, 2, 3, 4]  # one writer
    assert sum(r.get("event") == "start" for r in records) == 1
    assert [r["step"] for r in records if r.get("event") == "eval"] == [4]
    assert json.loads((run / "config.json").read_text())["runtime"]["world_size"] == 2
    GALIPPipeline.from_pretrained(run / "checkpoints" / "latest", device="cpu")
