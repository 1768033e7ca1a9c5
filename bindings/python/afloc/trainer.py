"""afloc.Trainer: CPU training of an AFLoc model through libafloc's trainer (afloc_trainer_*).

    import afloc
    with afloc.Context(backend="cpu") as ctx:
        model = afloc.Model.load(ctx, "start.safetensors")
        def show(p):                                   # called after every step
            print(p.epoch, p.step, p.loss.total, p.images_per_second, p.eta_seconds)
            return False                               # True stops the fit after this step
        with afloc.Trainer(model, batch_size=16, learning_rate=1e-4, progress=show) as trainer:
            trainer.fit("train.csv", epochs=2)         # manifest: columns image, report
            trainer.save_checkpoint("run.ckpt")
        model.save("trained.safetensors")

The trainer updates the model's weights in place; the model's inference functions see them after
fit returns (or after update_model()). A checkpoint resumes bit-identically:
``Trainer.resume(model, "run.ckpt", batch_size=16)``. Closing the model closes its trainers.
"""
import collections
import ctypes

import numpy as np

from . import _capi
from ._capi import lib as _lib
from .api import _Handle, _check, _path, _text_list

__all__ = ["Trainer", "LossTerms", "TrainProgress", "TrainerState"]

LossTerms = collections.namedtuple(
    "LossTerms", "global_ sentence word total grad_norm learning_rate step_seconds "
                 "word_loss_seconds sentence_contrast")
LossTerms.__doc__ = ("Loss terms of one step (at the weights before its update): L_GR (global_), "
                     "L_DS (sentence), L_SW (word), their weighted sum, the gradient norm before "
                     "clipping, the rate used and the step's wall time with its word-loss part, "
                     "then L_WS (sentence_contrast; 0 unless that weight is set).")
TrainProgress = collections.namedtuple(
    "TrainProgress", "step epoch epochs batch batches_per_epoch loss images_per_second eta_seconds")
TrainerState = collections.namedtuple("TrainerState", "step epoch batch seed learning_rate")

_SCHEDULES = {"constant": _capi.LR_SCHEDULE_CONSTANT, "step": _capi.LR_SCHEDULE_STEP,
              "cosine": _capi.LR_SCHEDULE_WARMUP_COSINE,
              "warmup_cosine": _capi.LR_SCHEDULE_WARMUP_COSINE}
_CAPTIONS = {"random": _capi.TRAIN_CAPTIONS_RANDOM, "full": _capi.TRAIN_CAPTIONS_FULL}


def _terms(t):
    return LossTerms(t.global_, t.sentence, t.word, t.total, t.grad_norm, t.learning_rate,
                     t.step_seconds, t.word_loss_seconds, t.sentence_contrast)


class Trainer(_Handle):
    """Trains `model` (an afloc.Model, updated in place) on the CPU.

    Options (defaults are the paper's, MODEL.md §7.1): batch_size 128, epochs 5 (fit's default),
    seed 1, threads 0 (the context's), schedule "step" (learning_rate · lr_gamma^(epoch //
    lr_step_epochs)), "cosine" (warmup_steps of linear warmup, cosine to min_learning_rate at
    total_steps; 0 = set by fit) or "constant"; learning_rate 2e-5, lr_gamma 0.9,
    lr_step_epochs 1, captions "random" (the paper's sentence sampling) or "full", dropout 0.1,
    drop_last True, loss_weights (global, sentence, word) = (1, 1, 1) (a weight of 0 skips that
    loss), mirror_pairs False (True: the laterality augmentation of `afloc train --mirror-pairs`,
    not in the paper: each batch holds batch_size/2 images, each also mirrored left-right with
    "left"/"right" swapped in its caption; batch_size even), sentence_contrast 0 (the weight of
    the within-image sentence loss of `afloc train --sentence-contrast`, not in the paper: the
    sentences of each report must attend to regions that match them better than the report's
    other sentences do). `progress`: a callable taking a TrainProgress after every step of fit; a true
    return value stops the fit after that step (an exception in it stops the fit and is re-raised
    by fit)."""

    _free = staticmethod(_lib.afloc_trainer_free)

    def __init__(self, model, batch_size=128, epochs=5, seed=1, threads=0, schedule="step",
                 learning_rate=2e-5, lr_gamma=0.9, lr_step_epochs=1, warmup_steps=0,
                 total_steps=0, min_learning_rate=0.0, captions="random", dropout=0.1,
                 drop_last=True, progress=None, loss_weights=(1.0, 1.0, 1.0), mirror_pairs=False,
                 sentence_contrast=0.0):
        if schedule not in _SCHEDULES:
            raise ValueError("schedule must be one of %s, not %r" % (sorted(_SCHEDULES), schedule))
        if captions not in _CAPTIONS:
            raise ValueError("captions must be 'random' or 'full', not %r" % (captions,))
        if progress is not None and not callable(progress):
            raise TypeError("progress must be callable")
        o = _capi.TrainerOptions()
        _check(_lib.afloc_trainer_options_default(ctypes.byref(o)))
        o.batch_size, o.epochs, o.seed, o.threads = int(batch_size), int(epochs), int(seed), int(threads)
        o.lr_schedule, o.learning_rate, o.lr_gamma = _SCHEDULES[schedule], learning_rate, lr_gamma
        o.lr_step_epochs, o.warmup_steps = int(lr_step_epochs), int(warmup_steps)
        o.total_steps, o.min_learning_rate = int(total_steps), min_learning_rate
        o.caption_mode, o.dropout, o.drop_last = _CAPTIONS[captions], dropout, int(bool(drop_last))
        weights = tuple(float(w) for w in loss_weights)
        if len(weights) != 3:
            raise ValueError("loss_weights must be (global, sentence, word), not %r" % (loss_weights,))
        o.loss_weight_global, o.loss_weight_sentence, o.loss_weight_word = weights
        o.mirror_pairs = int(bool(mirror_pairs))
        o.loss_weight_sentence_contrast = float(sentence_contrast)
        self._progress, self._error = progress, None
        self._callback = _capi.TRAIN_PROGRESS_FN(self._on_progress)  # kept alive with self
        o.progress = self._callback
        handle = ctypes.c_void_p()
        with model._use() as m:
            _check(_lib.afloc_trainer_create(m, ctypes.byref(o), ctypes.byref(handle)))
        super().__init__(handle.value)
        self.model = model
        self.batch_size = int(batch_size)
        model._sets.add(self)  # closing the model closes its trainers first

    @classmethod
    def resume(cls, model, checkpoint, **options):
        """A trainer with `options` (batch_size must be the checkpoint's) restored from
        `checkpoint`: weights, Adam state, position, seed and schedule."""
        trainer = cls(model, **options)
        try:
            trainer.load_checkpoint(checkpoint)
        except BaseException:
            trainer.close()
            raise
        return trainer

    def _on_progress(self, user, p):
        if self._progress is None:
            return 0
        try:
            q = p.contents
            return 1 if self._progress(TrainProgress(
                q.step, q.epoch, q.epochs, q.batch, q.batches_per_epoch, _terms(q.loss),
                q.images_per_second, q.eta_seconds)) else 0
        except BaseException as e:  # ctypes would print and swallow it: keep it for fit
            self._error = e
            return 1

    def step(self, images, captions):
        """One optimizer step on preprocessed frames `images`, float32 (N, S, S) with S the model's
        frame_size and 1 <= N <= batch_size (as afloc.preprocess returns them, stacked), and N
        caption texts (tokenized as written). Returns the LossTerms."""
        if not isinstance(images, np.ndarray) or images.dtype != np.float32:
            raise TypeError("images must be a float32 numpy.ndarray")
        side = self.model.dims.frame_size
        if images.ndim != 3 or images.shape[1:] != (side, side):
            raise ValueError("images must have shape (N, %d, %d), not %s" % (side, side, images.shape))
        images = np.ascontiguousarray(images)
        items, array = _text_list(captions, "captions")
        if len(items) != images.shape[0]:
            raise ValueError("%d images but %d captions" % (images.shape[0], len(items)))
        terms = _capi.TrainLossTerms()
        with self.model._use(), self._use() as t:
            _check(_lib.afloc_trainer_step(t, images.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                           images.size, array, len(items), ctypes.byref(terms)))
        return _terms(terms)

    def fit(self, manifest, image_root=None, epochs=0):
        """Trains on a manifest CSV (columns image, report) until epoch `epochs` (0: the
        option's). Returns True when done, False when `progress` asked to stop."""
        root = None if image_root is None else _path(image_root, "image_root")
        self._error = None
        with self.model._use(), self._use() as t:
            status = _lib.afloc_trainer_fit(t, _path(manifest, "manifest"), root, int(epochs))
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if status == _capi.ERR_CANCELLED:
            return False
        _check(status)
        return True

    def set_epoch(self, epoch):
        """Starts epoch `epoch` at batch 0 (for loops of step(); the step schedule is per epoch)."""
        with self._use() as t:
            _check(_lib.afloc_trainer_set_epoch(t, int(epoch)))

    @property
    def state(self):
        """TrainerState(step, epoch, batch, seed, learning_rate of the next step)."""
        s = _capi.TrainerState()
        with self._use() as t:
            _check(_lib.afloc_trainer_get_state(t, ctypes.byref(s)))
        return TrainerState(s.step, s.epoch, s.batch, s.seed, s.learning_rate)

    def save_checkpoint(self, path):
        """Writes weights, Adam state and position atomically to `path`."""
        with self.model._use(), self._use() as t:
            _check(_lib.afloc_trainer_save_checkpoint(t, _path(path)))

    def load_checkpoint(self, path):
        """Restores a checkpoint of this model's config and batch_size (validated first)."""
        with self.model._use(), self._use() as t:
            _check(_lib.afloc_trainer_load_checkpoint(t, _path(path)))

    def update_model(self):
        """Makes the model's inference functions use the current (trained) weights."""
        with self.model._use(), self._use() as t:
            _check(_lib.afloc_trainer_update_model(t))

    def __repr__(self):
        if self.closed:
            return "<afloc.Trainer closed>"
        s = self.state
        return "<afloc.Trainer batch_size=%d step=%d epoch=%d>" % (self.batch_size, s.step, s.epoch)
