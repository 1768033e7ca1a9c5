"""afloc.Trainer against the C trainer: steps and loss terms, bit-identical determinism and
checkpoint resume (compared through saved model files), fit over a PNG manifest with the progress
callback (values, stop, exceptions), and argument errors."""
import os

import numpy as np
import pytest

import afloc

from conftest import VOCAB_PATH, report, synthetic


def new_model(context, config):
    return afloc.Model.create(context, config=config, vocab=VOCAB_PATH, seed=5)


def batch(model, k, n=2):
    side = model.dims.frame_size
    rng = np.random.default_rng(k)
    images = rng.uniform(-1, 1, (n, side, side)).astype(np.float32)
    captions = ["small left pleural effusion. heart size is normal %d" % (k + i) for i in range(n)]
    return images, captions


def saved_bytes(model, path):
    model.save(path)
    with open(path, "rb") as f:
        return f.read()


def test_step_determinism_and_resume(context, config, tmp_path):
    runs = []
    for r in range(2):
        with new_model(context, config) as model:
            trainer = afloc.Trainer(model, batch_size=2, learning_rate=1e-3, threads=2, seed=9)
            for k in range(3):
                terms = trainer.step(*batch(model, k))
            assert terms.total > 0 and terms.grad_norm > 0 and terms.learning_rate == 1e-3
            assert abs(terms.total - (terms.global_ + terms.sentence + terms.word)) < 1e-5 * terms.total
            assert trainer.state.step == 3 and trainer.state.seed == 9
            runs.append(saved_bytes(model, str(tmp_path / ("run%d.safetensors" % r))))
    assert runs[0] == runs[1]

    ckpt = str(tmp_path / "run.ckpt")
    with new_model(context, config) as model:
        trainer = afloc.Trainer(model, batch_size=2, learning_rate=1e-3, threads=2, seed=9)
        trainer.step(*batch(model, 0))
        trainer.save_checkpoint(ckpt)
    with new_model(context, config) as model:
        trainer = afloc.Trainer.resume(model, ckpt, batch_size=2, threads=2)
        assert trainer.state.step == 1 and trainer.state.learning_rate == 1e-3
        for k in (1, 2):
            trainer.step(*batch(model, k))
        resumed = saved_bytes(model, str(tmp_path / "resumed.safetensors"))
        assert not trainer.closed
    assert trainer.closed  # closing the model closed its trainer
    assert resumed == runs[0]
    report("trainer: 2 runs and a resumed run bit-identical after 3 steps")


def write_manifest(directory, rows=4):
    lines = ["image,report"]
    for i in range(rows):
        afloc.save_png(synthetic(50 + 3 * i, 60, seed=i), str(directory / ("%d.png" % i)))
        lines.append('%d.png,"the left lung is clear. small pleural effusion. no pneumothorax %d"'
                     % (i, i))
    path = directory / "train.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_fit_progress_stop_and_errors(context, config, tmp_path):
    manifest = write_manifest(tmp_path)
    seen = []
    with new_model(context, config) as model:
        trainer = afloc.Trainer(model, batch_size=2, learning_rate=1e-3, threads=2,
                                progress=lambda p: seen.append(p))
        assert trainer.fit(manifest, epochs=2) is True
        assert [(p.step, p.epoch, p.batch) for p in seen] == [(1, 0, 0), (2, 0, 1), (3, 1, 0), (4, 1, 1)]
        assert all(p.batches_per_epoch == 2 and p.epochs == 2 and p.loss.total > 0 and
                   p.images_per_second > 0 for p in seen)
        assert [p.loss.learning_rate for p in seen] == [1e-3, 1e-3, 1e-3 * 0.9, 1e-3 * 0.9]
        assert seen[-1].eta_seconds == 0

        stopper = afloc.Trainer(model, batch_size=2, progress=lambda p: p.step == 1)
        assert stopper.fit(manifest, epochs=1) is False
        assert stopper.state.step == 1 and stopper.state.batch == 1

        def boom(p):
            raise RuntimeError("from the callback")
        failing = afloc.Trainer(model, batch_size=2, progress=boom)
        with pytest.raises(RuntimeError, match="from the callback"):
            failing.fit(manifest, epochs=1)
        assert failing.state.step == 1

        with pytest.raises(afloc.AflocIOError):
            trainer.fit(str(tmp_path / "missing.csv"))
        with pytest.raises(TypeError):
            trainer.step(np.zeros((2, 64, 64), np.float64), ["a b", "c d"])
        with pytest.raises(ValueError):
            trainer.step(np.zeros((2, 32, 32), np.float32), ["a b", "c d"])
        with pytest.raises(ValueError):
            trainer.step(np.zeros((2, 64, 64), np.float32), ["a b"])
        with pytest.raises(afloc.InvalidArgumentError, match="count 3"):
            trainer.step(np.zeros((3, 64, 64), np.float32), ["a b"] * 3)
        with pytest.raises(afloc.InvalidArgumentError, match="batch_size"):
            afloc.Trainer(model, batch_size=0)
        with pytest.raises(ValueError):
            afloc.Trainer(model, schedule="linear")
        with pytest.raises(afloc.InvalidArgumentError, match="mirror_pairs"):
            afloc.Trainer(model, batch_size=3, mirror_pairs=True)
        with pytest.raises(afloc.InvalidArgumentError, match="all three loss weights"):
            afloc.Trainer(model, batch_size=2, loss_weights=(0, 0, 0))
        with pytest.raises(ValueError, match="loss_weights"):
            afloc.Trainer(model, batch_size=2, loss_weights=(1, 1))
        with pytest.raises(afloc.InvalidArgumentError, match="sentence_contrast"):
            afloc.Trainer(model, batch_size=2, sentence_contrast=-1)
        # the within-image sentence loss, reported and added to the total when its weight is set
        # (the captions of batch() have two sentences each; off by default: test_loss_weights.c)
        contrast = afloc.Trainer(model, batch_size=2, threads=2, sentence_contrast=0.5)
        t = contrast.step(*batch(model, 5))
        assert t.sentence_contrast > 0
        assert abs(t.total - (t.global_ + t.sentence + t.word + 0.5 * t.sentence_contrast)) < 1e-5 * t.total
        contrast.close()
        mirrored, steps = afloc.Trainer(model, batch_size=4, threads=2, mirror_pairs=True,
                                        loss_weights=(1, 1, 0)), []
        mirrored._progress = steps.append
        assert mirrored.fit(manifest, epochs=1) is True  # 4 rows, 2 per batch: 2 steps
        assert [p.batch for p in steps] == [0, 1] and steps[-1].batches_per_epoch == 2
        assert all(p.loss.word == 0 and p.loss.sentence > 0 for p in steps)
        mirrored.close()
        plain = str(tmp_path / "plain.safetensors")
        model.save(plain)
        with pytest.raises(afloc.SchemaError, match="trainer.adam_m"):
            trainer.load_checkpoint(plain)
        assert "step=4" in repr(trainer)
    report("trainer: fit 2 epochs x 2 steps with progress, stop and callback errors")
