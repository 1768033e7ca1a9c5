# train.py: training with afloc.Trainer, the Python twin of examples/c/train_tiny.c. Creates a
# tiny model with fresh weights, preprocesses two generated pictures as inference does, takes a
# few optimizer steps on them and their reports, saves a checkpoint and the trained model, loads
# the model back and localizes a finding with it. Then resumes the checkpoint in a fresh trainer
# and shows that one more step gives the same loss as the uninterrupted trainer's.
#
#   PYTHONPATH=bindings/python python3 examples/python/train.py OUT_DIR [STEPS]
#
# On real data, trainer.fit("train.csv", epochs=...) does the loop, PNG decoding and caption
# sampling, with an optional progress callback.
import os
import sys

import numpy as np

import afloc

CONFIG = {"resnet_blocks": [1, 1, 1, 1], "resnet_planes": [4, 8, 16, 32], "resnet_stem": 8,
          "image_size": 40, "crop_size": 32, "upsample_size": 40,
          "bert_layers": 2, "bert_hidden": 16, "bert_heads": 2, "bert_intermediate": 32,
          "vocab_size": 64, "max_positions": 32, "token_length": 16, "last_n_layers": 2,
          "embedding_dim": 16}
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "small", "left", "right", "pleural",
         "effusion", "heart", "size", "is", "normal", "no", "the", "lungs", "are", "clear"]
REPORTS = ["small left pleural effusion. heart size is normal",
           "no pleural effusion. the lungs are clear"]


def picture(k, h=48, w=60):
    """Dark lungs brighter towards the bottom; picture 0 has a bright blob on the left."""
    y, x = np.mgrid[0:h, 0:w]
    image = (60 + 80 * y // h).astype(np.uint8)
    if k == 0:
        image[(x - 15) ** 2 + (y - 34) ** 2 < 60] = 220
    return image


def main():
    out_dir = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    model_path = os.path.join(out_dir, "tiny_trained_py.safetensors")
    checkpoint_path = os.path.join(out_dir, "tiny_run_py.ckpt")
    vocab = "\n".join(WORDS + ["w%d" % k for k in range(len(WORDS), CONFIG["vocab_size"])]) + "\n"
    pictures = [picture(0), picture(1)]
    with afloc.Context(backend="cpu", num_threads=2) as ctx:
        model = afloc.Model.create(ctx, CONFIG, vocab, seed=7)
        # frames preprocessed as for inference: letterbox to 40, centre crop 32, float32 (2, 32, 32)
        frames = np.stack([afloc.preprocess(p, image_size=40, crop_size=32)[0] for p in pictures])
        with afloc.Trainer(model, batch_size=2, schedule="constant", learning_rate=1e-3,
                           dropout=0.0) as trainer:
            losses = []
            for i in range(steps):
                t = trainer.step(frames, REPORTS)              # a LossTerms namedtuple
                losses.append(t.total)
                print("step %d: loss %.4f (global %.4f, sentence %.4f, word %.4f), grad norm %.3f"
                      % (i + 1, t.total, t.global_, t.sentence, t.word, t.grad_norm))
            print("loss %.4f -> %.4f over %d steps" % (losses[0], losses[-1], steps))
            trainer.save_checkpoint(checkpoint_path)
            next_loss = trainer.step(frames, REPORTS).total     # one step past the checkpoint
            state = trainer.state
            trainer.update_model()      # inference on `model` now sees the trained weights
        model.save(model_path)
        print("wrote %s and %s (trainer at step %d)" % (model_path, checkpoint_path, state.step))

        # resume: a fresh model of the same config, the checkpoint's weights and Adam state
        fresh = afloc.Model.create(ctx, CONFIG, vocab, seed=99)
        with afloc.Trainer.resume(fresh, checkpoint_path, batch_size=2, schedule="constant",
                                  learning_rate=1e-3, dropout=0.0) as resumed:
            again = resumed.step(frames, REPORTS).total
        print("resumed from the checkpoint: next loss %.6f, uninterrupted %.6f (%s)"
              % (again, next_loss, "identical" if again == next_loss else "DIFFERENT"))

        loaded = afloc.Model.load(ctx, model_path)
        finding = "small left pleural effusion"
        same = np.array_equal(loaded.embed_text(finding), model.embed_text(finding))
        print("reloaded model: text embedding %s the trained one's"
              % ("bit-identical to" if same else "DIFFERS from"))
        heatmap = loaded.localize(pictures[0], finding)
        y, x = divmod(int(heatmap.argmax()), heatmap.shape[1])
        print('"%s" on picture 0 (%dx%d): peak at (%d, %d)'
              % (finding, heatmap.shape[1], heatmap.shape[0], x, y))


if __name__ == "__main__":
    main()
