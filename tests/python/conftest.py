"""Fixtures of the Python binding tests: a tiny random model (tests/model/cli_config.json and
cli_vocab.txt, the `afloc init` test model) created once and saved to a temp file, a CPU
context, and synthetic images. Needs AFLOC_LIBRARY (or a build*/libafloc.so) and, for the C
parity tests, AFLOC_C_REFERENCE (the c_reference program CMake builds)."""
import json
import os

import numpy as np
import pytest

import afloc

SOURCE_DIR = os.environ.get("AFLOC_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG_PATH = os.path.join(SOURCE_DIR, "tests", "model", "cli_config.json")
VOCAB_PATH = os.path.join(SOURCE_DIR, "tests", "model", "cli_vocab.txt")
HEADER_PATH = os.path.join(SOURCE_DIR, "include", "afloc", "afloc.h")
TEXT = "Small left pleural effusion. No pneumothorax."
PROMPTS = ["left pleural effusion", "no pleural effusion", "heart size is normal"]


def synthetic(height, width, channels=1, dtype=np.uint8, seed=1):
    """A gradient with a bright blob and noise, as tests/model/tiny_model.h draws."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    v = 40 + 150 * y / max(height - 1, 1) + 80 * (((x - 0.4 * width) ** 2 + (y - 0.6 * height) ** 2)
                                                   < 0.02 * width * height) + rng.integers(0, 16, (height, width))
    v = np.clip(v, 0, 255)
    if dtype == np.uint16:
        v = np.round(v * 4095 / 255)
    elif dtype == np.float32:
        v = v / 255
    img = v.astype(dtype)
    if channels == 3:
        img = np.stack([img, np.roll(img, 3, axis=1), img[::-1]], axis=2).copy()
    return img


@pytest.fixture(scope="session")
def config():
    with open(CONFIG_PATH) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def context():
    with afloc.Context(backend="cpu", num_threads=2) as ctx:
        yield ctx


@pytest.fixture(scope="session")
def model_path(context, config, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("model") / "tiny.safetensors")
    with afloc.Model.create(context, config=config, vocab=VOCAB_PATH, seed=3) as m:
        m.save(path)
    return path


@pytest.fixture(scope="session")
def model(context, model_path):
    m = afloc.Model.load(context, model_path)
    yield m
    m.close()


@pytest.fixture(scope="session")
def gray8():
    return synthetic(50, 70)


@pytest.fixture(scope="session")
def rgb8():
    return synthetic(61, 45, channels=3, seed=2)


@pytest.fixture(scope="session")
def gray16():
    img = synthetic(40, 57, dtype=np.uint16, seed=3).view(afloc.PngImage)
    img.significant_bits = 12
    return img


SUMMARY = []


def report(line):
    """A figure for the one-line summaries printed at the end of the run."""
    SUMMARY.append(line)


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY:
        terminalreporter.write_line("python_bindings: " + line)
