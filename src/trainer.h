/* trainer.h: the internal shape of afloc_trainer (opaque in the public header), shared by the
 * files of the public trainer: trainer.c (options, create, step, state), trainer_fit.c (the
 * manifest loop) and trainer_checkpoint.c (save and resume). The numeric step itself is
 * train_step.c; this layer adds tokenizing, the schedule, the position, threads and time.
 *
 * Backend: on a CPU context the trainer drives train_step.c (`step`, `side`) on model->params in
 * place. On a CUDA context (model->context->backend == AFLOC_BACKEND_CUDA) it drives the device
 * step device_train.c (`device`) instead: parameters, gradient and Adam state live on the device
 * during training, and the host copies are brought up to date where the host needs them —
 * afloc_trainer_save_checkpoint downloads parameters (running statistics included), m and v
 * before writing; afloc_trainer_load_checkpoint uploads them; afloc_trainer_update_model
 * downloads the parameters into model->params, rebuilds the inference plan and re-uploads the
 * model's inference copy (model->device); afloc_trainer_free downloads the parameters into
 * model->params (so the model holds the trained weights, as on the CPU; the inference plan and
 * model->device are refreshed only by update_model, as on the CPU). The checkpoint format is the
 * same, so a checkpoint written on one backend resumes on the other. */
#ifndef AFLOC_TRAINER_H
#define AFLOC_TRAINER_H

#include <stdint.h>

#include "afloc/afloc.h"
#include "model.h"
#include "schedule.h"
#include "train_step.h"

struct afloc_trainer {
    afloc_model           *model;    /* borrowed; its params are trained in place            */
    afloc_trainer_options  options;  /* full size, defaults for what the caller did not set  */
    afloc_lr_schedule      schedule; /* from the options, or from a checkpoint               */
    afloc_train_step      *step;     /* batch_size B: owns the gradient and Adam m / v       */
    afloc_train_step      *side;     /* a smaller batch (the last of an epoch), or NULL      */
    struct afloc_device_train *device; /* CUDA context: the device step (step, side NULL)     */
    float                 *host_m;   /* CUDA context: host copies of Adam m / v for          */
    float                 *host_v;   /*   checkpoints (table.total_floats each)              */
    float                 *host_params; /* CUDA context: staging of parameter transfers, so a
                                            failed one leaves model->params whole            */
    int32_t                side_B;
    int32_t                threads;  /* OpenMP team size of a step, >= 1                     */
    int32_t                T;        /* token slots per caption                              */
    int32_t                crop;     /* frame side                                           */
    int32_t               *ids;      /* (B, T) token ids of the batch being tokenized        */
    int32_t               *mask;     /* (B, T) attention mask (written by the tokenizer)     */
    int32_t               *lengths;  /* (B) real tokens per caption                          */
    float                 *stats;    /* BatchNorm running statistics saved before a step, so
                                        a failed step can put them back (stats_floats)        */
    size_t                 stats_floats;
    int32_t                epoch;    /* current epoch                                        */
    int32_t                batch;    /* next batch within the epoch                          */
};

/* Checkpoint format version, stored as trainer.state[0]. */
#define AFLOC_TRAINER_CHECKPOINT_VERSION 1
/* trainer.state (I64): version, step, epoch, batch, seed (bits), batch size, schedule kind,
 * step_epochs, warmup_steps, total_steps. trainer.schedule (F64): base, gamma, min rate. */
enum { AFLOC_TRAINER_STATE_LEN = 10, AFLOC_TRAINER_SCHEDULE_LEN = 3 };

/* Adam steps taken (either backend). */
int64_t afloc_trainer_count(const afloc_trainer *t);

/* The dropout seed of optimizer step `step` (0-based) of a run seeded with `seed`. */
uint64_t afloc_trainer_dropout_seed(uint64_t seed, int64_t step);

/* One step on an already tokenized batch of `count` (1..B) samples in t->ids / t->lengths:
 * schedule, threads, train_step (on the side step for count < B), position advance. `function`
 * names the public caller in messages. `terms` may be NULL. */
afloc_status afloc_trainer_run(afloc_trainer *t, const float *images, int32_t count,
                               afloc_train_loss_terms *terms, const char *function);

/* Tokenizes captions[0..count) into t->ids / t->lengths. */
afloc_status afloc_trainer_tokenize(afloc_trainer *t, const char *const *captions, int32_t count,
                                    const char *function);

/* CUDA context: the device's parameters (and Adam m / v into the non-NULL host buffers, model
 * layout) into t->model->params, through the staging buffer: on a device failure model->params
 * keeps what it had. Returns the device status with the message naming `fn`. */
afloc_status afloc_trainer_pull_params(const afloc_trainer *t, float *m, float *v, const char *fn);

#endif /* AFLOC_TRAINER_H */
