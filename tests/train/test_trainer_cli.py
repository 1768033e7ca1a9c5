"""test_trainer_cli.py: `afloc train` end to end on a tiny manifest (label train).

Writes a vocabulary, a tiny config and five grayscale PNGs (stdlib zlib, no packages), makes a
model with `afloc init`, trains 2 epochs of 2 steps with a checkpoint, checks the plain
(non-terminal) progress lines, that OUT is a loadable model (`afloc embed`), that --resume
continues from the checkpoint to epoch 3, that --max-steps stops the run and ends the cosine
schedule there, that --help names every option, and the usage and failure exit codes.
Usage: test_trainer_cli.py AFLOC_BINARY
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib

WORDS = ["the", "left", "right", "pleural", "effusion", "small", "lung", "is", "clear", "heart",
         "size", "normal", "no", "pneumothorax", "seen", "mild", "edema"]
CONFIG = ('{"resnet_blocks":[1,1,1,1],"resnet_planes":[4,8,16,32],"resnet_stem":8,'
          '"image_size":40,"crop_size":32,"upsample_size":40,"bert_layers":2,"bert_hidden":16,'
          '"bert_heads":2,"bert_intermediate":32,"vocab_size":60,"max_positions":32,'
          '"token_length":16,"last_n_layers":2,"embedding_dim":16}')


def png_gray(path, w, h, seed):
    rows = b"".join(b"\x00" + bytes((x * 7 + y * (seed + 3) + seed * 29) & 0xFF for x in range(w))
                    for y in range(h))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def run(args, expect):
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if p.returncode != expect:
        sys.exit("FAIL: %s -> rc %d (expected %d)\nstdout:\n%s\nstderr:\n%s"
                 % (" ".join(args), p.returncode, expect, p.stdout, p.stderr))
    return p.stdout


def main():
    afloc = sys.argv[1]
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="afloc_train_cli_") as d:
        tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + WORDS
        tokens += [chr(ord("a") + i) for i in range(26)]
        tokens += ["w%d" % i for i in range(60 - len(tokens))]
        with open(os.path.join(d, "vocab.txt"), "w") as f:
            f.write("\n".join(tokens) + "\n")
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(CONFIG)
        os.mkdir(os.path.join(d, "img"))
        lines = ["image,report"]
        for i in range(5):
            png_gray(os.path.join(d, "img", "%d.png" % i), 36 + 4 * i, 44 - 3 * i, i)
            lines.append('img/%d.png,"the left lung is clear. small pleural effusion seen. '
                         'heart size is normal. no pneumothorax %s"' % (i, WORDS[i]))
        manifest = os.path.join(d, "train.csv")
        with open(manifest, "w") as f:
            f.write("\n".join(lines) + "\n")
        model, out, ckpt = (os.path.join(d, n) for n in ("in.safetensors", "out.safetensors",
                                                         "run.ckpt"))
        run([afloc, "init", model, "--vocab", os.path.join(d, "vocab.txt"), "--config",
             os.path.join(d, "config.json")], 0)

        helptext = run([afloc, "train", "--help"], 0)
        for option in ("--model", "--out", "--epochs", "--batch", "--lr", "--schedule", "--warmup",
                       "--seed", "--threads", "--captions", "--checkpoint", "--resume",
                       "--max-steps", "--max-minutes"):
            assert option in helptext, "--help lacks " + option

        text = run([afloc, "train", manifest, "--model", model, "--out", out, "--epochs", "2",
                    "--batch", "2", "--lr", "1e-3", "--threads", "2", "--checkpoint", ckpt], 0)
        progress = [l for l in text.splitlines() if l.startswith("epoch ")]
        assert len(progress) == 4, text
        pattern = re.compile(r"epoch (\d)/2  step (\d)/4  loss ([0-9.]+) .* lr ([0-9.e-]+) +"
                             r"([0-9.]+) img/s  ETA \d+:\d\d:\d\d$")
        for k, line in enumerate(progress):
            m = pattern.match(line)
            assert m, "progress line: " + line
            assert int(m.group(2)) == k + 1 and int(m.group(1)) == k // 2 + 1, line
            assert float(m.group(3)) > 0 and float(m.group(5)) > 0, line
            assert abs(float(m.group(4)) - (1e-3 if k < 2 else 9e-4)) < 1e-9, line
        assert "\r" not in text, "carriage returns in non-terminal output"
        assert "4 steps" in text, text
        embedding = run([afloc, "embed", out, "--text", "small left pleural effusion"], 0)
        assert embedding.strip().startswith("["), embedding
        text = run([afloc, "train", manifest, "--model", model, "--out", out, "--epochs", "3",
                    "--batch", "2", "--resume", ckpt, "--quiet"], 0)
        assert "6 steps, 3 epochs" in text, text
        # --max-steps 3 of a 100-epoch run: three steps, shown as k/3, the cosine schedule ending
        # at step 3 (rates base·(1 + cos(π·k/3))/2 for k = 0, 1, 2), a normal finish.
        text = run([afloc, "train", manifest, "--model", model, "--out", out, "--epochs", "100",
                    "--batch", "2", "--lr", "1e-3", "--schedule", "cosine", "--max-steps", "3",
                    "--threads", "1"], 0)
        progress = [l for l in text.splitlines() if l.startswith("epoch ")]
        assert len(progress) == 3, text
        for k, line in enumerate(progress):
            m = re.search(r"step (\d+)/(\d+) .* lr ([0-9.e-]+) ", line)
            assert m and int(m.group(1)) == k + 1 and int(m.group(2)) == 3, line
            expected = [1e-3, 7.5e-4, 2.5e-4][k]
            assert abs(float(m.group(3)) - expected) < 1e-3 * expected, (line, expected)
        assert "step budget of 3 steps reached" in text and "3 steps, 1 epochs" in text, text
        run([afloc, "embed", out, "--text", "small left pleural effusion"], 0)
        run([afloc, "train", manifest, "--model", model, "--out", out, "--max-steps", "0"], 2)
        run([afloc, "train", manifest, "--model", model], 2)            # no --out
        run([afloc, "train", manifest, "--model", model, "--out", out, "--captions", "x"], 2)
        run([afloc, "train", os.path.join(d, "missing.csv"), "--model", model, "--out", out], 1)
        run([afloc, "train", manifest, "--model", model, "--out", out, "--batch", "3",
             "--resume", ckpt], 1)                                       # batch mismatch
    print("test_trainer_cli: init, train 2 epochs x 2 steps (4 progress lines checked), embed "
          "the output, resume to epoch 3, --max-steps 3 with its cosine rates, usage errors; "
          "%.1f s" % (time.time() - start))


if __name__ == "__main__":
    main()
