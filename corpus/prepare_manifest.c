#include "corpus/prepare_manifest.h"
#include "corpus/seekable.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

const char *invalid_mode_name(InvalidMode m)
{
    return m == INVALID_ERROR ? "error" : m == INVALID_REPLACE ? "replace" : "keep";
}

const char *normalize_mode_name(NormalizeMode m)
{
    return m == NORMALIZE_NONE ? "none" : m == NORMALIZE_NFC ? "nfc" : "nfkc";
}

/* File names are bytes, JSON is UTF-8: a name with invalid bytes is shown with U+FFFD. */
static char *json_safe(const char *s)
{
    size_t n = strlen(s), k = 0;
    char *o = bl_malloc(3 * n + 1);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (r > 0) {
            memcpy(o + k, s + i, (size_t)r);
            k += (size_t)r, i += (size_t)r;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3, i++;
        }
    }
    o[k] = 0;
    return o;
}

static void add_str(cJSON *o, const char *key, const char *s)
{
    char *safe = json_safe(s);
    cJSON_AddStringToObject(o, key, safe);
    free(safe);
}

static cJSON *split_json(const ManifestSplit *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
    cJSON_AddNumberToObject(o, "documents", (double)s->documents);
    cJSON *arr = cJSON_AddArrayToObject(o, "shards");
    for (int i = 0; i < s->nshards; i++) {
        const ManifestShard *m = &s->shards[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "file", m->file);
        cJSON_AddNumberToObject(x, "bytes", (double)m->bytes);
        cJSON_AddNumberToObject(x, "file_bytes", (double)m->file_bytes);
        cJSON_AddNumberToObject(x, "frames", (double)m->frames);
        char h[17];
        snprintf(h, sizeof h, "%016" PRIx64, m->fnv1a64);
        cJSON_AddStringToObject(x, CORPUS_CHECKSUM, h);
        cJSON_AddItemToArray(arr, x);
    }
    return o;
}

int prepare_write_manifest(const char *path, const ManifestSplit *train, const ManifestSplit *val,
                           const DocList *docs, const PrepareOptions *o, const PrepareResult *r,
                           const char *const *inputs, int ninputs, BlErr *e)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", CORPUS_FORMAT);
    cJSON_AddNumberToObject(root, "version", CORPUS_VERSION);
    cJSON_AddStringToObject(root, "checksum", CORPUS_CHECKSUM);
    cJSON_AddStringToObject(root, "shard_format", "zstd seekable (contrib/seekable_format), one frame per frame_size bytes");
    cJSON_AddNumberToObject(root, "bytes", (double)(train->bytes + val->bytes));
    cJSON_AddNumberToObject(root, "input_bytes", (double)r->input_bytes);
    cJSON_AddNumberToObject(root, "documents", (double)r->documents);
    cJSON_AddNumberToObject(root, "empty_documents_skipped", (double)r->empty_skipped);
    cJSON_AddNumberToObject(root, "replaced_bytes", (double)r->replaced);
    cJSON_AddItemToObject(root, "train", split_json(train));
    cJSON_AddItemToObject(root, "val", split_json(val));
    /* which documents (or which part of the only one) were held out, for reproducing the split */
    cJSON *vd = cJSON_AddArrayToObject(root, "val_documents");
    for (size_t i = 0; i < docs->n; i++) {
        const Document *d = &docs->docs[i];
        if (d->cut == d->size) continue;
        cJSON *x = cJSON_CreateObject();
        add_str(x, "name", d->name);
        cJSON_AddNumberToObject(x, "offset", (double)d->cut);
        cJSON_AddNumberToObject(x, "input_bytes", (double)(d->size - d->cut));
        cJSON_AddItemToArray(vd, x);
    }
    cJSON *op = cJSON_AddObjectToObject(root, "options");
    cJSON_AddNumberToObject(op, "val_fraction", o->val_fraction);
    cJSON_AddNumberToObject(op, "frame_size", (double)o->frame_size);
    cJSON_AddNumberToObject(op, "shard_size", (double)o->shard_size);
    cJSON_AddNumberToObject(op, "level", o->level);
    cJSON_AddNumberToObject(op, "min_match", SEEKABLE_MIN_MATCH);
    cJSON_AddStringToObject(op, "on_invalid", invalid_mode_name(o->on_invalid));
    cJSON_AddStringToObject(op, "normalize", normalize_mode_name(o->normalize));
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    cJSON_AddRawToObject(op, "seed", seed); /* exact even above 2^53 */
    cJSON *in = cJSON_AddArrayToObject(root, "inputs");
    for (int i = 0; i < ninputs; i++) {
        char *s = json_safe(inputs[i]);
        cJSON_AddItemToArray(in, cJSON_CreateString(s));
        free(s);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    BL_CHECK(text);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = 0;
    if (fd < 0) rc = bl_fail_errno(e, path, "create");
    else {
        size_t n = strlen(text), off = 0;
        while (off < n && !rc) {
            ssize_t k = write(fd, text + off, n - off);
            if (k < 0) rc = bl_fail_errno(e, path, "write");
            else off += (size_t)k;
        }
        if (!rc && (write(fd, "\n", 1) != 1 || fsync(fd))) rc = bl_fail_errno(e, path, "write");
        close(fd);
    }
    free(text);
    return rc;
}
