"""`python -m gan_jax.anomaly` end to end on a 4-step run: its files, the
saved encoder, and its errors."""

import csv
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from configs import anomaly_mnist
from gan_jax import train
import idx_digits  # tests/idx_digits.py  # pylint: disable=g-bad-import-order

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("anomaly")
    idx_digits.write(root / "idx")
    config = anomaly_mnist.get_config("tiny")
    config.data.update(path=str(root / "idx"), data_dir=str(root / "tfds"),
                       split="test", classes=tuple(range(9)))
    train.train_and_evaluate(config, root / "run")
    return root


def _anomaly(*flags):
    return subprocess.run([sys.executable, "-m", "gan_jax.anomaly", *flags],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, JAX_PLATFORMS="cpu"))


def _tree(folder: pathlib.Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file()}


def test_scores_images_and_saves_the_encoder(tiny_run, tmp_path):
    run = tiny_run / "run"
    queries = (np.arange(12 * 28 * 28) % 256).astype(np.uint8).reshape(12, 28, 28)
    np.save(tmp_path / "queries.npy", queries)
    gan_checkpoints = _tree(run / "checkpoints")
    flags = [f"--workdir={run}", f"--images={tmp_path / 'queries.npy'}",
             f"--out={tmp_path / 'out'}", "--encoder_steps=2", "--search_steps=2",
             "--anogan_limit=4", "--strip=2"]
    result = _anomaly(*flags)
    assert result.returncode == 0, result.stderr[-3000:]
    with (tmp_path / "out" / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert sorted(int(r["rank"]) for r in rows) == list(range(1, 13))
    assert all(r["anogan"] for r in rows[:4]) and not any(r["anogan"] for r in rows[4:])
    assert (tmp_path / "out" / "scores.json").exists()
    assert (tmp_path / "out" / "ranked.png").read_bytes()[:4] == b"\x89PNG"
    # The encoder of the GAN's step 4 is saved beside, never among, its checkpoints.
    assert (run / "anomaly" / "encoder" / "checkpoints" / "4").is_dir()
    assert _tree(run / "checkpoints") == gan_checkpoints
    # A second call restores it: same f-AnoGAN scores, no training.
    again = _anomaly(*flags[:-4], f"--out={tmp_path / 'again'}", "--search_steps=0")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Training the f-AnoGAN encoder" not in again.stderr
    with (tmp_path / "again" / "scores.csv").open() as f:
        np.testing.assert_allclose([float(r["f_anogan"]) for r in csv.DictReader(f)],
                                   [float(r["f_anogan"]) for r in rows], rtol=1e-6)


def test_errors_name_the_flag_and_write_nothing(tiny_run, tmp_path):
    missing = _anomaly(f"--workdir={tmp_path / 'nowhere'}", "--images=x.npy")
    assert missing.returncode == 1
    assert f"--workdir={tmp_path / 'nowhere'} is not a directory" in re.sub(
        r"\s*\n\s*", " ", missing.stderr)
    (tmp_path / "notes.txt").write_text("not images")
    before = _tree(tiny_run / "run")
    unreadable = _anomaly(f"--workdir={tiny_run / 'run'}",
                          f"--images={tmp_path / 'notes.txt'}",
                          f"--out={tmp_path / 'out'}")
    assert unreadable.returncode == 1
    # The message is wrapped at 80 columns (cli._fail), paths included.
    message = re.sub(r"\s*\n\s*", "", unreadable.stderr)
    assert f"--images={tmp_path / 'notes.txt'}" in message
    assert "a .npy array" in re.sub(r"\s+", " ", unreadable.stderr)  # What would do.
    assert not (tmp_path / "out").exists()
    assert _tree(tiny_run / "run") == before
