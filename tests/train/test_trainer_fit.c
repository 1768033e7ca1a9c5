/* test_trainer_fit.c: afloc_trainer_fit on a tiny manifest of PNGs written here: (1) the progress
 * callback is called once per step with sane values (step, epoch, batch, losses, StepLR rate,
 * throughput, ETA reaching 0); (2) a stop requested by the callback returns AFLOC_ERR_CANCELLED
 * after a complete step, and fitting again, or resuming from a checkpoint saved there in a fresh
 * trainer, ends bit-identical to the uninterrupted fit, and the resumed fit decodes no image of
 * the batches before its position (every PNG outside the resumed batch is made unreadable
 * first: a loader that prepared and dropped the skipped batches would fail on them, so the check
 * needs no timing or counter); (3) drop_last = 0 trains the short last
 * batch; (4) image_root; (5) after fit, inference sees the trained weights (same text embedding
 * as the saved and reloaded model); (6) mirror_pairs halves the rows per batch. */
#include <math.h>
#include <sys/stat.h>

#include "captions.h"
#include "data_loader.h"
#include "manifest.h"
#include "test_util.h"
#include "trainer_fixture.h"

enum { ROWS = 5, B = 2, EPOCHS = 2, MAX_CALLS = 16 };

static char dir[256], manifest[512];

typedef struct recorder {
    afloc_train_progress calls[MAX_CALLS];
    int count;
    int stop_at_step; /* 0: never */
} recorder;

static int32_t on_progress(void *user, const afloc_train_progress *p) {
    recorder *r = user;
    if (r->count < MAX_CALLS) r->calls[r->count] = *p;
    r->count++;
    return r->stop_at_step > 0 && p->step == r->stop_at_step;
}

static void write_data(void) {
    char csv[2048] = "image,report\n";
    mkdir(dir, 0700);
    for (int i = 0; i < ROWS; i++) {
        const int w = 36 + 5 * i, h = 44 - 2 * i;
        unsigned char *px = malloc((size_t)w * h);
        for (int k = 0; k < w * h; k++) px[k] = (unsigned char)((k * (i + 3) + (k / w) * 11) & 0xFF);
        afloc_image_view v = {.struct_size = sizeof v, .pixel_type = AFLOC_PIXEL_U8, .channels = 1,
                              .width = w, .height = h, .row_stride = (size_t)w, .pixels = px};
        char name[64], path[512], line[256];
        snprintf(name, sizeof name, "img%d.png", i);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        CHECK_STATUS(afloc_image_save_png(&v, path), AFLOC_OK);
        free(px);
        snprintf(line, sizeof line, "%s,\"the left lung is clear. small pleural effusion seen. "
                 "heart size is normal%s. no pneumothorax\"\n", name, i % 2 ? " there" : "");
        strcat(csv, line);
    }
    snprintf(manifest, sizeof manifest, "%s/train.csv", dir);
    FILE *f = fopen(manifest, "w");
    fputs(csv, f);
    fclose(f);
}

/* Marks in `used` (ROWS flags) the manifest rows of batch `seq` (counted over all epochs) of a
 * fit with seed 1 (the trainer default), B and drop_last 1, as the data loader orders them;
 * returns how many it marked. */
static int rows_of_batch(int64_t seq, int used[ROWS]) {
    afloc_manifest *m = NULL;
    afloc_caption_cache *c = NULL;
    afloc_data_loader *l = NULL;
    const afloc_data_batch *batch = NULL;
    afloc_data_loader_options o;
    afloc_data_loader_options_default(&o);
    o.batch_size = B;
    o.image_size = 40;
    o.crop_size = 32;
    o.seed = 1;
    o.threaded = 0;
    o.start_batch = seq;
    int n = 0;
    if (afloc_manifest_load(manifest, &m, NULL, "t") == AFLOC_OK &&
        afloc_caption_cache_build(m, 5, &c, "t") == AFLOC_OK &&
        afloc_data_loader_create(m, c, &o, &l, "t") == AFLOC_OK &&
        afloc_data_loader_next(l, &batch, "t") == AFLOC_OK && batch->index == seq % 2)
        for (int i = 0; i < batch->count; i++, n++) used[batch->rows[i]] = 1;
    afloc_data_loader_free(l);
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
    return n;
}

/* Overwrites the PNG of every row not flagged in `keep` with bytes that are not a PNG. */
static int spoil_images(const int keep[ROWS]) {
    int spoiled = 0;
    for (int i = 0; i < ROWS; i++) {
        if (keep[i]) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/img%d.png", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f) continue;
        fputs("not a png: a resumed fit must not decode the batches it skips", f);
        spoiled += fclose(f) == 0;
    }
    return spoiled;
}

static afloc_trainer *new_trainer(afloc_context **ctx, afloc_model **model, recorder *r,
                                  int drop_last) {
    *model = fixture_model(ctx, 2, 7, "");
    afloc_trainer_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_trainer_options_default(&o);
    o.batch_size = B;
    o.threads = 2;
    o.learning_rate = 1e-3;
    o.drop_last = drop_last;
    o.progress = on_progress;
    o.progress_user = r;
    afloc_trainer *t = NULL;
    CHECK_STATUS(afloc_trainer_create(*model, &o, &t), AFLOC_OK);
    return t;
}

static void check_calls(const recorder *r, int first_step, int n) {
    int bad = 0;
    for (int k = 0; k < n && k < MAX_CALLS; k++) {
        const afloc_train_progress *p = &r->calls[k];
        const int step = first_step + k;
        const int epoch = (step - 1) / 2, batch = (step - 1) % 2;
        const double lr = epoch == 0 ? 1e-3 : 1e-3 * 0.9;
        const afloc_train_loss_terms *l = &p->loss;
        bad += p->struct_size != sizeof *p || p->step != step || p->epoch != epoch ||
               p->batch != batch || p->batches_per_epoch != 2 || p->epochs != EPOCHS;
        bad += !(isfinite(l->total) && l->total > 0 && l->global > 0 && l->sentence > 0 &&
                 l->word > 0 && l->grad_norm > 0) || l->learning_rate != lr;
        bad += !(p->images_per_second > 0 && p->eta_seconds >= 0);
        if (bad) {
            fprintf(stderr, "  call %d: step %lld epoch %d batch %d/%d loss %g lr %g ips %g eta %g\n",
                    k, (long long)p->step, p->epoch, p->batch, p->batches_per_epoch, l->total,
                    l->learning_rate, p->images_per_second, p->eta_seconds);
            break;
        }
    }
    CHECK(bad == 0);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/afloc_trainer_fit_XXXXXX");
    if (!mkdtemp(dir)) return 2;
    write_data();
    const double t0 = fixture_now();

    /* 1. uninterrupted: 2 epochs of 2 batches */
    afloc_context *ctx = NULL;
    afloc_model *model = NULL;
    recorder full = {.count = 0};
    afloc_trainer *t = new_trainer(&ctx, &model, &full, 1);
    if (!t) return test_finish("test_trainer_fit");
    CHECK_STATUS(afloc_trainer_fit(t, manifest, NULL, EPOCHS), AFLOC_OK);
    CHECK(full.count == 4);
    check_calls(&full, 1, 4);
    CHECK(full.count == 4 && full.calls[3].eta_seconds == 0);
    fixture_snapshot want = fixture_snap(t);
    /* 5. inference sees the trained weights */
    char saved[512];
    snprintf(saved, sizeof saved, "%s/trained.safetensors", dir);
    CHECK_STATUS(afloc_model_save(model, saved), AFLOC_OK);
    afloc_model *back = NULL;
    CHECK_STATUS(afloc_model_load(ctx, saved, &back), AFLOC_OK);
    float e1[16], e2[16];
    CHECK_STATUS(afloc_model_embed_text(model, "small left pleural effusion", e1, 16), AFLOC_OK);
    CHECK_STATUS(afloc_model_embed_text(back, "small left pleural effusion", e2, 16), AFLOC_OK);
    CHECK(memcmp(e1, e2, sizeof e1) == 0);
    afloc_model_free(back);
    /* fitting again to the same epoch count does nothing */
    CHECK_STATUS(afloc_trainer_fit(t, manifest, NULL, EPOCHS), AFLOC_OK);
    CHECK(full.count == 4);
    afloc_trainer_free(t);
    afloc_model_free(model);

    /* 2. stop after step 3 (epoch 1, batch 0), checkpoint, then continue two ways */
    recorder part = {.stop_at_step = 3};
    t = new_trainer(&ctx, &model, &part, 1);
    CHECK_STATUS(afloc_trainer_fit(t, manifest, NULL, EPOCHS), AFLOC_ERR_CANCELLED);
    CHECK(part.count == 3 && strstr(afloc_last_error(), "stopped") != NULL);
    afloc_trainer_state s = {.struct_size = sizeof s};
    CHECK_STATUS(afloc_trainer_get_state(t, &s), AFLOC_OK);
    CHECK(s.step == 3 && s.epoch == 1 && s.batch == 1);
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/stop.ckpt", dir);
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, ckpt), AFLOC_OK);
    part.stop_at_step = 0;
    CHECK_STATUS(afloc_trainer_fit(t, manifest, NULL, EPOCHS), AFLOC_OK);
    check_calls(&part, 1, 4);
    fixture_snapshot again = fixture_snap(t);
    const int same_again = fixture_same(&want, &again);
    afloc_trainer_free(t);
    afloc_model_free(model);
    recorder res = {.count = 0};
    t = new_trainer(&ctx, &model, &res, 1);
    CHECK_STATUS(afloc_trainer_load_checkpoint(t, ckpt), AFLOC_OK);
    /* the checkpoint's next batch is epoch 1 batch 1 (sequence number 3): spoil every other PNG */
    int keep[ROWS] = {0};
    const int kept = rows_of_batch(3, keep), spoiled = spoil_images(keep);
    CHECK(kept == B && spoiled == ROWS - B);
    CHECK_STATUS(afloc_trainer_fit(t, manifest, NULL, EPOCHS), AFLOC_OK);
    write_data(); /* the real PNGs again, for the parts below */
    CHECK(res.count == 1);
    check_calls(&res, 4, 1);
    fixture_snapshot resumed = fixture_snap(t);
    const int same_resumed = fixture_same(&want, &resumed);
    printf("  stop at step 3 then fit again: %s; checkpoint at step 3 resumed in a fresh trainer "
           "with the %d PNGs outside its batch unreadable: %s\n",
           same_again ? "bit-identical" : "DIFFERS", spoiled,
           same_resumed ? "bit-identical" : "DIFFERS");
    CHECK(same_again && same_resumed);
    fixture_snap_free(&again);
    fixture_snap_free(&resumed);
    afloc_trainer_free(t);
    afloc_model_free(model);

    /* 3. drop_last 0: 3 batches per epoch, the last of 1 image; 4. image_root */
    recorder tail = {.count = 0};
    t = new_trainer(&ctx, &model, &tail, 0);
    CHECK_STATUS(afloc_trainer_fit(t, manifest, dir, 1), AFLOC_OK);
    CHECK(tail.count == 3 && tail.calls[2].batches_per_epoch == 3 && tail.calls[2].batch == 2);
    CHECK_STATUS(afloc_trainer_fit(t, manifest, "/nonexistent", 2), AFLOC_ERR_IO);
    afloc_trainer_free(t);
    afloc_model_free(model);

    /* 6. mirror_pairs: batch 4 = 2 rows, each also mirrored, so 5 rows give 2 steps per epoch
     * (not 1, as batch 4 of plain rows would); an odd batch is refused at create */
    recorder mir = {.count = 0};
    model = fixture_model(&ctx, 2, 7, "");
    afloc_trainer_options mo;
    memset(&mo, 0, sizeof mo);
    mo.struct_size = sizeof mo;
    afloc_trainer_options_default(&mo);
    mo.batch_size = 3;
    mo.mirror_pairs = 1;
    t = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &mo, &t), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(t == NULL && strstr(afloc_last_error(), "mirror_pairs") != NULL);
    mo.batch_size = 4;
    mo.threads = 2;
    mo.progress = on_progress;
    mo.progress_user = &mir;
    CHECK_STATUS(afloc_trainer_create(model, &mo, &t), AFLOC_OK);
    if (t) CHECK_STATUS(afloc_trainer_fit(t, manifest, NULL, 1), AFLOC_OK);
    CHECK(mir.count == 2 && mir.calls[1].batches_per_epoch == 2 && isfinite(mir.calls[1].loss.total));
    afloc_trainer_free(t);
    afloc_model_free(model);
    afloc_context_free(ctx);
    fixture_snap_free(&want);

    const afloc_train_progress *last = &full.calls[3];
    printf("test_trainer_fit: %d rows, B=%d, %d epochs: %d progress calls, final loss %.5f, "
           "%.1f img/s; stop/resume bit-identical; %.1f s total\n", ROWS, B, EPOCHS, full.count,
           last->loss.total, last->images_per_second, fixture_now() - t0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_trainer_fit");
}
