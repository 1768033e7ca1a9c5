"""Python threads on one model: 4 threads run localize, classify and the embeddings at once
(the C calls release the GIL); every result must equal the single-threaded one bit for bit."""
import threading


from conftest import PROMPTS, TEXT, report, synthetic

THREADS = 4
ROUNDS = 6


def compute(model, image, prompt_set, text):
    return [model.localize(image, text), model.embed_image(image), model.embed_text(text),
            *model.classify(image, PROMPTS), *model.classify(image, prompt_set)]


def test_four_threads_on_one_model(model):
    images = [synthetic(40 + 7 * k, 60 - 5 * k, channels=1 + 2 * (k % 2), seed=k) for k in range(THREADS)]
    texts = [TEXT, "small right lower lobe opacity", "mild edema", "no pneumothorax there"]
    prompt_set = model.prompt_set(PROMPTS)
    expected = [compute(model, images[k], prompt_set, texts[k]) for k in range(THREADS)]
    failures, done = [], [0] * THREADS
    start = threading.Barrier(THREADS)

    def worker(k):
        try:
            start.wait()
            for r in range(ROUNDS):
                j = (k + r) % THREADS  # every thread does every item
                got = compute(model, images[j], prompt_set, texts[j])
                for a, b in zip(got, expected[j]):
                    if a.tobytes() != b.tobytes():
                        failures.append((k, r, j))
                done[k] += 1
        except Exception as e:  # reported below, not lost in the thread
            failures.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    prompt_set.close()
    assert not failures, failures[:5]
    assert done == [ROUNDS] * THREADS
    report("%d threads x %d rounds x 6 outputs bit-identical to one thread"
          % (THREADS, ROUNDS))


def test_close_waits_for_calls_in_flight(context, model_path):
    import afloc
    m = afloc.Model.load(context, model_path)
    image = synthetic(300, 300)
    errors = []

    def worker():
        try:
            for _ in range(5):
                m.localize(image, TEXT)
        except ValueError as e:  # closed between calls: fine
            assert "closed" in str(e)
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    m.close()  # must not free the model under a running call
    for t in threads:
        t.join()
    assert not errors and m.closed
