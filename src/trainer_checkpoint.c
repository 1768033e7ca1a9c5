/* trainer_checkpoint.c: trainer checkpoints (afloc_trainer_save_checkpoint / _load_checkpoint).
 * A checkpoint is a libafloc model file (model_file.h: parameters, config, vocabulary, both
 * checksums) with the trainer's state added as tensors, so one strict reader and one atomic
 * writer serve both (RELIABILITY rule 9, T17):
 *   <name>                  F32  the parameter, BatchNorm running statistics included
 *   trainer.adam_m.<name>   F32  Adam first moment (zeros for tensors Adam skips)
 *   trainer.adam_v.<name>   F32  Adam second moment
 *   trainer.state           I64  [10] see trainer.h
 *   trainer.schedule        F64  [3]  base rate, gamma, min rate
 * Counters are tensors, not metadata, so they round-trip bit-exactly and sit under the data
 * checksum. Loading validates the whole file, the config and the vocabulary before it changes
 * anything. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "config.h"
#include "device_train.h"
#include "error.h"
#include "model_file.h"
#include "trainer.h"

#define M_PREFIX "trainer.adam_m."
#define V_PREFIX "trainer.adam_v."
#define STATE_TENSOR "trainer.state"
#define SCHEDULE_TENSOR "trainer.schedule"

enum { NAME_CAP = AFLOC_PARAM_NAME_MAX + 16 };

/* Names "trainer.adam_m.<name>" then "trainer.adam_v.<name>" for every table entry, NAME_CAP
 * bytes each (caller frees). */
static char *moment_names(const afloc_param_table *table, const char *function) {
    char *names = afloc_malloc((size_t)table->count * 2 * NAME_CAP);
    if (!names) {
        afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d tensor names", function,
                   (int)table->count * 2);
        return NULL;
    }
    for (int32_t i = 0; i < table->count; i++) {
        snprintf(names + (size_t)(2 * i) * NAME_CAP, NAME_CAP, M_PREFIX "%s", table->params[i].name);
        snprintf(names + (size_t)(2 * i + 1) * NAME_CAP, NAME_CAP, V_PREFIX "%s",
                 table->params[i].name);
    }
    return names;
}

static const int64_t state_shape[1] = {AFLOC_TRAINER_STATE_LEN};
static const int64_t schedule_shape[1] = {AFLOC_TRAINER_SCHEDULE_LEN};

static void pack_state(const afloc_trainer *t, int64_t *state, double *schedule) {
    const afloc_lr_schedule *s = &t->schedule;
    int64_t seed_bits;
    memcpy(&seed_bits, &t->options.seed, sizeof seed_bits);
    const int64_t values[AFLOC_TRAINER_STATE_LEN] = {
        AFLOC_TRAINER_CHECKPOINT_VERSION, afloc_trainer_count(t), t->epoch, t->batch,
        seed_bits, t->options.batch_size, s->kind, s->step_epochs, s->warmup_steps,
        s->total_steps};
    memcpy(state, values, sizeof values);
    schedule[0] = s->base_lr;
    schedule[1] = s->gamma;
    schedule[2] = s->min_lr;
}

afloc_status afloc_trainer_save_checkpoint(const afloc_trainer *t, const char *path) {
    static const char fn[] = "afloc_trainer_save_checkpoint";
    afloc_clear_error();
    if (!t || !path)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !t ? "trainer" : "path");
    const afloc_model *model = t->model;
    const afloc_param_table *table = &model->table;
    float *m = t->host_m, *v = t->host_v;
    if (t->device) {
        /* the state lives on the device: parameters into the model, moments into host copies */
        AFLOC_TRY(afloc_trainer_pull_params(t, m, v, fn));
    } else {
        afloc_train_step_adam_state(t->step, &m, &v);
    }
    char *config = NULL;
    AFLOC_TRY(afloc_config_to_json(&model->config, &config, fn));
    const int32_t count = 3 * table->count + 2;
    afloc_st_write_tensor *tensors = afloc_calloc((size_t)count, sizeof *tensors);
    char *names = moment_names(table, fn);
    if (!tensors || !names) {
        afloc_free(tensors);
        afloc_free(names);
        afloc_free(config);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %d tensor entries", fn,
                          (int)count);
    }
    for (int32_t i = 0; i < table->count; i++) {
        const afloc_param *p = &table->params[i];
        const float *sources[3] = {model->params, m, v};
        const char *tensor_names[3] = {p->name, names + (size_t)(2 * i) * NAME_CAP,
                                       names + (size_t)(2 * i + 1) * NAME_CAP};
        for (int k = 0; k < 3; k++) {
            afloc_st_write_tensor *w = &tensors[k * table->count + i];
            w->name = tensor_names[k];
            w->dtype = AFLOC_ST_F32;
            w->rank = p->rank;
            w->shape = p->shape;
            w->data = sources[k] + p->offset;
            w->nbytes = p->count * sizeof(float);
        }
    }
    int64_t state[AFLOC_TRAINER_STATE_LEN];
    double schedule[AFLOC_TRAINER_SCHEDULE_LEN];
    pack_state(t, state, schedule);
    tensors[count - 2] = (afloc_st_write_tensor){STATE_TENSOR, AFLOC_ST_I64, 1, state_shape,
                                                 state, sizeof state};
    tensors[count - 1] = (afloc_st_write_tensor){SCHEDULE_TENSOR, AFLOC_ST_F64, 1, schedule_shape,
                                                 schedule, sizeof schedule};
    afloc_status st = afloc_mf_write(path, config, model->vocab, model->vocab_size, tensors, count, fn);
    afloc_free(tensors);
    afloc_free(names);
    afloc_free(config);
    return st;
}

/* ---- loading ---- */

/* The expected schema: parameters, moments, state, schedule (caller frees both). */
static afloc_status expected_schema(const afloc_param_table *table, const char *function,
                                    afloc_mf_expected **out, char **names_out) {
    const int32_t count = 3 * table->count + 2;
    afloc_mf_expected *e = afloc_calloc((size_t)count, sizeof *e);
    char *names = moment_names(table, function);
    if (!e || !names) {
        afloc_free(e);
        afloc_free(names);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the checkpoint schema",
                          function);
    }
    for (int32_t i = 0; i < table->count; i++) {
        const afloc_param *p = &table->params[i];
        const char *tensor_names[3] = {p->name, names + (size_t)(2 * i) * NAME_CAP,
                                       names + (size_t)(2 * i + 1) * NAME_CAP};
        for (int k = 0; k < 3; k++) {
            afloc_mf_expected *x = &e[k * table->count + i];
            x->name = tensor_names[k];
            x->dtype = AFLOC_ST_F32;
            x->rank = p->rank;
            memcpy(x->shape, p->shape, (size_t)p->rank * sizeof p->shape[0]);
        }
    }
    e[count - 2] = (afloc_mf_expected){.name = STATE_TENSOR, .dtype = AFLOC_ST_I64, .rank = 1,
                                       .shape = {AFLOC_TRAINER_STATE_LEN}};
    e[count - 1] = (afloc_mf_expected){.name = SCHEDULE_TENSOR, .dtype = AFLOC_ST_F64, .rank = 1,
                                       .shape = {AFLOC_TRAINER_SCHEDULE_LEN}};
    *out = e;
    *names_out = names;
    return AFLOC_OK;
}

/* The file's config must be the model's (compared in canonical form) and so must the
 * vocabulary: SCHEMA otherwise. */
static afloc_status check_same_model(const afloc_model *model, const afloc_model_file *mf,
                                     const char *fn) {
    afloc_config config;
    afloc_config_default(&config);
    afloc_status st = afloc_config_from_json(&config, mf->config_json, strlen(mf->config_json), fn);
    if (st != AFLOC_OK) return st;
    char *mine = NULL, *theirs = NULL;
    st = afloc_config_to_json(&model->config, &mine, fn);
    if (st == AFLOC_OK) st = afloc_config_to_json(&config, &theirs, fn);
    if (st == AFLOC_OK && strcmp(mine, theirs) != 0)
        st = afloc_fail(AFLOC_ERR_SCHEMA, "%s: the checkpoint's model config differs from the "
                        "trainer's model (%.80s...)", fn, theirs);
    afloc_free(mine);
    afloc_free(theirs);
    if (st != AFLOC_OK) return st;
    size_t bytes = 0;
    const unsigned char *vocab = afloc_mf_vocab(mf, &bytes);
    if (bytes != model->vocab_size || memcmp(vocab, model->vocab, bytes) != 0)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: the checkpoint's vocabulary (%zu bytes) differs "
                          "from the model's (%zu bytes)", fn, bytes, model->vocab_size);
    return AFLOC_OK;
}

/* Reads and checks trainer.state / trainer.schedule into a schedule and position. */
static afloc_status read_state(const afloc_trainer *t, const afloc_st_file *st, int64_t *state,
                               afloc_lr_schedule *s, const char *fn) {
    double schedule[AFLOC_TRAINER_SCHEDULE_LEN];
    AFLOC_TRY(afloc_st_tensor_copy(st, afloc_st_find(st, STATE_TENSOR), state,
                                   AFLOC_TRAINER_STATE_LEN * sizeof(int64_t)));
    AFLOC_TRY(afloc_st_tensor_copy(st, afloc_st_find(st, SCHEDULE_TENSOR), schedule,
                                   sizeof schedule));
    if (state[0] != AFLOC_TRAINER_CHECKPOINT_VERSION)
        return afloc_fail(AFLOC_ERR_UNSUPPORTED, "%s: checkpoint version %lld; this library reads %d",
                          fn, (long long)state[0], AFLOC_TRAINER_CHECKPOINT_VERSION);
    if (state[1] < 0 || state[2] < 0 || state[2] > INT32_MAX || state[3] < 0 || state[3] > INT32_MAX)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: step %lld, epoch %lld, batch %lld out of range", fn,
                          (long long)state[1], (long long)state[2], (long long)state[3]);
    if (state[5] != t->options.batch_size)
        return afloc_fail(AFLOC_ERR_SCHEMA, "%s: the checkpoint was written with batch_size %lld, "
                          "the trainer has %d", fn, (long long)state[5], (int)t->options.batch_size);
    if (state[6] < 0 || state[6] > AFLOC_LR_WARMUP_COSINE || state[7] < 0 || state[7] > INT32_MAX)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: schedule kind %lld / step_epochs %lld invalid", fn,
                          (long long)state[6], (long long)state[7]);
    s->kind = (int32_t)state[6];
    s->step_epochs = (int32_t)state[7];
    s->warmup_steps = state[8];
    s->total_steps = state[9];
    s->base_lr = schedule[0];
    s->gamma = schedule[1];
    s->min_lr = schedule[2];
    afloc_lr_schedule check = *s;
    if (check.kind == AFLOC_LR_WARMUP_COSINE && check.total_steps == 0)
        check.total_steps = check.warmup_steps;
    if (afloc_lr_schedule_check(&check, fn) == AFLOC_OK) return AFLOC_OK;
    char reason[AFLOC_ERROR_CAPACITY]; /* the message buffer cannot be its own source */
    snprintf(reason, sizeof reason, "%s", afloc_last_error());
    return afloc_fail(AFLOC_ERR_FORMAT, "%s", reason);
}

afloc_status afloc_trainer_load_checkpoint(afloc_trainer *t, const char *path) {
    static const char fn[] = "afloc_trainer_load_checkpoint";
    afloc_clear_error();
    if (!t || !path)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !t ? "trainer" : "path");
    afloc_model *model = t->model;
    const afloc_param_table *table = &model->table;
    afloc_model_file *mf = NULL;
    AFLOC_TRY(afloc_mf_read(path, NULL, NULL, 0, fn, &mf));
    afloc_mf_expected *expected = NULL;
    char *names = NULL;
    int64_t state[AFLOC_TRAINER_STATE_LEN];
    afloc_lr_schedule schedule;
    afloc_status st = check_same_model(model, mf, fn);
    if (st == AFLOC_OK) st = expected_schema(table, fn, &expected, &names);
    if (st == AFLOC_OK) st = afloc_mf_check_schema(mf->st, expected, 3 * table->count + 2, fn);
    if (st == AFLOC_OK) st = read_state(t, mf->st, state, &schedule, fn);
    if (st == AFLOC_OK) {
        /* everything is valid: nothing below can fail (sizes checked by the schema), except
         * the upload to a CUDA device, so on a device the parameters are staged and reach the
         * model only once the device has them */
        float *m = t->host_m, *v = t->host_v;
        if (!t->device) afloc_train_step_adam_state(t->step, &m, &v);
        float *targets[3] = {t->device ? t->host_params : model->params, m, v};
        for (int k = 0; k < 3; k++)
            for (int32_t i = 0; i < table->count; i++) {
                const afloc_param *p = &table->params[i];
                afloc_st_tensor_copy(mf->st, afloc_st_find(mf->st, expected[k * table->count + i].name),
                                     targets[k] + p->offset, p->count * sizeof(float));
            }
        if (!t->device) {
            afloc_train_step_set_count(t->step, state[1]);
        } else if ((st = afloc_device_train_upload_state(t->device, t->host_params, m, v,
                                                         state[1])) != AFLOC_OK) {
            char inner[AFLOC_ERROR_CAPACITY];
            snprintf(inner, sizeof inner, "%s", afloc_last_error());
            afloc_fail(st, "%s: %s", fn, inner);
        } else {
            memcpy(model->params, t->host_params, table->total_floats * sizeof(float));
        }
    }
    if (st == AFLOC_OK) {
        t->epoch = (int32_t)state[2];
        t->batch = (int32_t)state[3];
        memcpy(&t->options.seed, &state[4], sizeof t->options.seed);
        t->schedule = schedule;
    }
    afloc_free(expected);
    afloc_free(names);
    afloc_mf_free(mf);
    return st;
}
