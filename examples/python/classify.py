"""classify.py: zero-shot classification of a PNG radiograph against prompts given on the command
line, with the Python bindings. Each prompt gets the cosine similarity of its report embedding
with the image's global embedding, and the softmax of those scores over the prompts
(temperature 1).

    PYTHONPATH=bindings/python python3 examples/python/classify.py \\
        model.safetensors chest.png "pleural effusion is present" "no pleural effusion"

The model cleans prompts as the AFLoc reference does, which drops one-word sentences: a prompt
such as "cardiomegaly" is encoded as empty text. The table flags such prompts; write a phrase
("findings suggesting cardiomegaly") instead. The same program in C is examples/c/classify.c."""
import sys

import afloc


def main(argv):
    if len(argv) < 4:
        print("usage: %s MODEL.safetensors IMAGE.png PROMPT [PROMPT ...]" % argv[0],
              file=sys.stderr)
        return 2
    model_path, image_path, prompts = argv[1], argv[2], argv[3:]
    with afloc.Context(backend="cpu") as ctx:       # models run on the CPU backend in 0.1
        model = afloc.Model.load(ctx, model_path)
        image = afloc.load_png(image_path)
        scores, probabilities = model.classify(image, prompts, temperature=1.0)

    print("%-40s %9s %12s" % ("prompt", "cosine", "probability"))
    for prompt, score, p in zip(prompts, scores, probabilities):
        note = "  (one word: encoded as empty text)" if afloc.clean_prompt(prompt) == "" else ""
        print("%-40s %9.5f %12.5f%s" % (prompt, score, p, note))
    best = int(probabilities.argmax())
    print("probabilities sum to %.5f" % float(probabilities.sum(dtype="float64")))
    print("best: \"%s\" (p = %.5f)" % (prompts[best], probabilities[best]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
