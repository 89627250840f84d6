/* Batched raw-log records: the sampling thread copies each whole record (header, CRC and
 * payload, as RawLogWriter frames it) into a staging buffer; a thread of the batch's own takes
 * what was staged at most every `period` and appends it to the log as one zstd frame, made
 * against the end of the previous batch (every `keyframe_every`-th batch stands alone). So the
 * sampling path is one memcpy under a mutex, and kill -9 loses at most one period. */
#include "clockstat.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LS_RECORD_HEADER 32
#define LS_RECORD_MAGIC 0x52534B4Cu
#define LS_BATCH_TAIL (64 * 1024)

struct ls_batch {
    int fd;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* Held while the log's file is written (the batch thread, a record written at once). */
    pthread_mutex_t writing;
    unsigned char *staged, *spare, *frame, *tail;
    size_t staged_len, staged_cap, spare_cap, frame_cap, tail_len;
    ls_zstd *zstd;
    int level;
    uint64_t period_ns;
    /* The most records one batch holds, in bytes (a reader refuses a batch that decodes to more). */
    size_t max_batch;
    unsigned keyframe_every, written;
    int stop;
    pthread_t thread;
    int write_errors, first_error;
    uint16_t kind_alone, kind_chained;
};

static int grow(unsigned char **buffer, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t size = *cap ? *cap : 1 << 16;
    while (size < need) size *= 2;
    unsigned char *bigger = realloc(*buffer, size);
    if (!bigger) return -1;
    *buffer = bigger;
    *cap = size;
    return 0;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static void put16(unsigned char *p, uint16_t v) { memcpy(p, &v, 2); }

/* One write of a whole record (or batch) at the end of the log; on failure the log is cut back
   to where it ended, so it keeps its last whole record, and nothing more is written. */
static int write_whole(ls_batch *b, const unsigned char *data, size_t len) {
    pthread_mutex_lock(&b->writing);
    int rc = 0;
    off_t end = lseek(b->fd, 0, SEEK_END);
    size_t done = 0;
    while (!b->write_errors && done < len) {
        ssize_t n = write(b->fd, data + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            b->first_error = n < 0 ? errno : ENOSPC;
            b->write_errors++;
            if (end >= 0 && ftruncate(b->fd, end) != 0) { /* the reader drops a torn tail anyway */ }
            break;
        }
        done += (size_t)n;
    }
    if (b->write_errors) rc = -1;
    pthread_mutex_unlock(&b->writing);
    return rc;
}

int ls_batch_write_now(ls_batch *b, const void *record, size_t len) { return write_whole(b, record, len); }

/* Appends `len` bytes of whole records as one batch record (or, when `as_they_are`, as they
   are: a record larger than a batch may hold); on any failure the log keeps its last whole
   record and nothing more is written (as RawLogWriter does). */
static void write_frame(ls_batch *b, const unsigned char *data, size_t len, int as_they_are) {
    int alone = b->tail_len == 0 || b->written % b->keyframe_every == 0;
    size_t size = 0;
    if (!as_they_are) {
        if (grow(&b->frame, &b->frame_cap, LS_RECORD_HEADER + ls_zstd_bound(len)) != 0) { b->write_errors++; b->first_error = ENOMEM; return; }
        size = ls_zstd_compress(b->zstd, b->frame + LS_RECORD_HEADER, b->frame_cap - LS_RECORD_HEADER, data, len,
                                alone ? NULL : b->tail, alone ? 0 : b->tail_len, b->level);
    }
    const unsigned char *out = b->frame;
    size_t total;
    if (size == 0) {
        /* Too large for a batch, or zstd failed: the records as they are (each is whole already). */
        out = data;
        total = len;
    } else {
        unsigned char *h = b->frame;
        uint64_t tick, time;
        memcpy(&tick, data + 8, 8);
        memcpy(&time, data + 16, 8);
        put32(h, LS_RECORD_MAGIC);
        put32(h + 4, (uint32_t)size);
        put64(h + 8, tick);
        put64(h + 16, time);
        put16(h + 24, 0);
        put16(h + 26, alone ? b->kind_alone : b->kind_chained);
        uint32_t crc = ls_crc32c(0, h, 28);
        crc = ls_crc32c(crc, h + LS_RECORD_HEADER, size);
        put32(h + 28, crc);
        total = LS_RECORD_HEADER + size;
    }
    if (write_whole(b, out, total) != 0) return;
    if (size == 0) { b->tail_len = 0; return; }
    b->tail_len = len < LS_BATCH_TAIL ? len : LS_BATCH_TAIL;
    memcpy(b->tail, data + len - b->tail_len, b->tail_len);
    b->written++;
}

/* Writes staged records as batches of at most `max_batch` bytes each, cut between records (a
   stalled disk lets more than a second pile up), so every batch decodes within the bound. */
static void write_batch(ls_batch *b, const unsigned char *data, size_t len) {
    size_t start = 0;
    while (!b->write_errors && start + LS_RECORD_HEADER <= len) {
        size_t end = start;
        while (end + LS_RECORD_HEADER <= len) {
            uint32_t n;
            memcpy(&n, data + end + 4, 4);
            size_t record = LS_RECORD_HEADER + (size_t)n;
            if (record > len - end) { end = len; break; }
            if (end > start && end - start + record > b->max_batch) break;
            end += record;
        }
        write_frame(b, data + start, end - start, end - start > b->max_batch);
        start = end;
    }
}

/* Takes what is staged (under the lock) and writes it (outside it). */
static void flush_staged(ls_batch *b) {
    pthread_mutex_lock(&b->lock);
    unsigned char *data = b->staged;
    size_t len = b->staged_len, cap = b->staged_cap;
    b->staged = b->spare;
    b->staged_cap = b->spare_cap;
    b->staged_len = 0;
    pthread_mutex_unlock(&b->lock);
    write_batch(b, data, len);
    pthread_mutex_lock(&b->lock);
    b->spare = data;
    b->spare_cap = cap;
    pthread_mutex_unlock(&b->lock);
}

static void *flusher(void *arg) {
    ls_batch *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        uint64_t ns = (uint64_t)deadline.tv_nsec + b->period_ns;
        deadline.tv_sec += (time_t)(ns / 1000000000u);
        deadline.tv_nsec = (long)(ns % 1000000000u);
        while (!b->stop && pthread_cond_timedwait(&b->wake, &b->lock, &deadline) != ETIMEDOUT) {
            if (b->staged_len >= b->staged_cap / 2) break;
        }
        if (b->stop) break;
        pthread_mutex_unlock(&b->lock);
        flush_staged(b);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

ls_batch *ls_batch_start(int fd, double period_seconds, int level, unsigned keyframe_every, size_t max_batch,
                         uint16_t kind_alone, uint16_t kind_chained) {
    ls_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->fd = fd;
    b->period_ns = (uint64_t)(period_seconds * 1e9);
    b->level = level;
    b->keyframe_every = keyframe_every ? keyframe_every : 1;
    b->max_batch = max_batch;
    b->kind_alone = kind_alone;
    b->kind_chained = kind_chained;
    b->zstd = ls_zstd_new();
    b->tail = malloc(LS_BATCH_TAIL);
    if (!b->zstd || !b->tail || grow(&b->staged, &b->staged_cap, 1 << 18) || grow(&b->spare, &b->spare_cap, 1 << 18)) goto fail;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->writing, NULL);
    if (pthread_create(&b->thread, NULL, flusher, b) != 0) goto fail;
    return b;
fail:
    if (b->zstd) ls_zstd_free(b->zstd);
    free(b->tail); free(b->staged); free(b->spare);
    free(b);
    return NULL;
}

int ls_batch_stage(ls_batch *b, const void *record, size_t len) {
    pthread_mutex_lock(&b->lock);
    int rc = 0;
    if (b->staged_len + len > b->staged_cap) rc = grow(&b->staged, &b->staged_cap, b->staged_len + len);
    if (rc == 0) {
        memcpy(b->staged + b->staged_len, record, len);
        b->staged_len += len;
        /* More than half full (a burst, a large file): the flusher takes it now. */
        if (b->staged_len >= b->staged_cap / 2) pthread_cond_signal(&b->wake);
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

int ls_batch_finish(ls_batch *b, int *first_error) {
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->lock);
    pthread_join(b->thread, NULL);
    flush_staged(b);
    int errors = b->write_errors;
    *first_error = b->first_error;
    ls_zstd_free(b->zstd);
    free(b->staged); free(b->spare); free(b->frame); free(b->tail);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->writing);
    free(b);
    return errors;
}
