/* Parses corpus.json. Every number and name is checked before use: a hand-edited or damaged
 * manifest must give a clear error, never a path outside the directory or a bogus size. */
#include "corpus/manifest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byte_lm/base/file_read.h"
#include "byte_lm/base/str_order.h"
#include "corpus/seekable.h"

int read_small_file(const char *path, size_t max, char **buf, size_t *len, BlErr *e)
{
    return file_read_all(path, max, 0, buf, len, e);
}

typedef struct {
    const char *path;
    const char *text; /* for offsets: where in the file a bad value sits is approximated by its key */
    BlErr *e;
} Ctx;

/* Offset of the first occurrence of "key" in the text: good enough to point a person at the bad
 * field, since cJSON keeps no positions. */
static uint64_t key_offset(const Ctx *c, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = strstr(c->text, pat);
    return p ? (uint64_t)(p - c->text) : 0;
}

static int get_u64(const Ctx *c, const cJSON *obj, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (!(d >= 0 && d <= 9007199254740992.0 && d == (double)(uint64_t)d))
        return bl_fail_at(c->e, c->path, key_offset(c, key), "\"%s\" must be a non-negative integer", key);
    *out = (uint64_t)d;
    return 0;
}

/* A shard name must stay inside the corpus directory. */
static int plain_name(const char *s)
{
    return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

static int load_split(const Ctx *c, const cJSON *root, const char *name, ManifestSplit *sp)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!cJSON_IsObject(o)) return bl_fail_at(c->e, c->path, key_offset(c, name), "missing split \"%s\"", name);
    if (get_u64(c, o, "bytes", &sp->bytes) || get_u64(c, o, "documents", &sp->documents)) return -1;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "shards");
    if (!cJSON_IsArray(arr)) return bl_fail_at(c->e, c->path, key_offset(c, name), "split \"%s\" has no shard list", name);
    int n = cJSON_GetArraySize(arr);
    if (n > MANIFEST_MAX_SHARDS)
        return bl_fail_at(c->e, c->path, key_offset(c, name), "split \"%s\" lists %d shards (at most %d)", name, n,
                          MANIFEST_MAX_SHARDS);
    sp->shards = bl_calloc((size_t)(n ? n : 1), sizeof *sp->shards);
    uint64_t sum = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        ManifestShard *s = &sp->shards[sp->nshards];
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "file");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, CORPUS_CHECKSUM);
        if (!cJSON_IsString(f) || !plain_name(f->valuestring) || !strcmp(f->valuestring, CORPUS_MANIFEST))
            return bl_fail_at(c->e, c->path, key_offset(c, "file"), "bad shard file name in split \"%s\"", name);
        s->file = strdup(f->valuestring);
        sp->nshards++;
        if (get_u64(c, it, "bytes", &s->bytes) || get_u64(c, it, "file_bytes", &s->file_bytes) ||
            get_u64(c, it, "frames", &s->frames))
            return -1;
        /* a frame holds at least one byte, and a shard with bytes has a frame */
        if (s->frames > s->bytes || (s->bytes && !s->frames) || s->frames > SEEKABLE_MAX_FRAMES)
            return bl_fail_at(c->e, c->path, key_offset(c, s->file), "shard %s: \"frames\" %" PRIu64 " out of range for %" PRIu64 " bytes",
                              s->file, s->frames, s->bytes);
        if (s->file_bytes < s->frames * 8) /* a seek table entry alone is 8 bytes per frame */
            return bl_fail_at(c->e, c->path, key_offset(c, s->file), "shard %s: \"file_bytes\" %" PRIu64 " too small for %" PRIu64 " frames",
                              s->file, s->file_bytes, s->frames);
        char *end = NULL;
        if (!cJSON_IsString(h) || strlen(h->valuestring) != 16 ||
            (s->fnv1a64 = strtoull(h->valuestring, &end, 16), *end))
            return bl_fail_at(c->e, c->path, key_offset(c, s->file), "shard %s: \"%s\" must be 16 hex digits", s->file,
                              CORPUS_CHECKSUM);
        if (sum + s->bytes < sum)
            return bl_fail_at(c->e, c->path, key_offset(c, s->file), "split \"%s\": the shards' bytes overflow", name);
        sum += s->bytes;
    }
    if (sum != sp->bytes)
        return bl_fail_at(c->e, c->path, key_offset(c, name), "split \"%s\": shards hold %" PRIu64 " bytes, not %" PRIu64,
                          name, sum, sp->bytes);
    return 0;
}

/* Two entries naming one file would read (or, for prepare, count) it twice: sorted names, so
 * equal ones are neighbours. */
static int duplicate_shard(const Ctx *c, const Manifest *m)
{
    size_t n = (size_t)m->train.nshards + (size_t)m->val.nshards, k = 0;
    char **names = bl_malloc((n ? n : 1) * sizeof *names);
    for (int i = 0; i < m->train.nshards; i++) names[k++] = m->train.shards[i].file;
    for (int i = 0; i < m->val.nshards; i++) names[k++] = m->val.shards[i].file;
    qsort(names, n, sizeof *names, str_ptr_cmp);
    int rc = 0;
    for (size_t i = 1; i < n && !rc; i++)
        if (!strcmp(names[i - 1], names[i]))
            rc = bl_fail_at(c->e, c->path, key_offset(c, names[i]), "shard %s is listed twice", names[i]);
    free(names);
    return rc;
}

/* The top-level "bytes" (when there) is the two splits' sum: a manifest that disagrees with
 * itself was edited or damaged. The top-level "documents" is only checked for its type. */
static int total_bytes(const Ctx *c, const cJSON *root, const Manifest *m)
{
    uint64_t total, docs;
    if (cJSON_GetObjectItemCaseSensitive(root, "documents") && get_u64(c, root, "documents", &docs)) return -1;
    if (!cJSON_GetObjectItemCaseSensitive(root, "bytes")) return 0;
    if (get_u64(c, root, "bytes", &total)) return -1;
    if (total != m->train.bytes + m->val.bytes)
        return bl_fail_at(c->e, c->path, key_offset(c, "bytes"), "\"bytes\" is %" PRIu64 ", the splits hold %" PRIu64, total,
                          m->train.bytes + m->val.bytes);
    return 0;
}

int manifest_load(Manifest *m, const char *dir, BlErr *e)
{
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, CORPUS_MANIFEST);
    char *text;
    size_t len;
    if (read_small_file(path, (size_t)1 << 30, &text, &len, e)) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    Ctx c = {path, text, e};
    int rc = 0;
    if (!root) {
        rc = bl_fail_at(e, path, end ? (uint64_t)(end - text) : 0, "not valid JSON");
    } else {
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
        uint64_t version = 0;
        if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, CORPUS_FORMAT))
            rc = bl_fail_at(e, path, key_offset(&c, "format"), "not a bytelm corpus manifest (\"format\" is not \"%s\")",
                            CORPUS_FORMAT);
        else if (get_u64(&c, root, "version", &version)) rc = -1;
        else if (version != CORPUS_VERSION)
            rc = bl_fail_at(e, path, key_offset(&c, "version"), "unsupported corpus version %" PRIu64, version);
        else if (load_split(&c, root, "train", &m->train) || load_split(&c, root, "val", &m->val)) rc = -1;
        else if (duplicate_shard(&c, m)) rc = -1;
        else if (total_bytes(&c, root, m)) rc = -1;
        else {
            const cJSON *opt = cJSON_GetObjectItemCaseSensitive(root, "options");
            const cJSON *fs = cJSON_IsObject(opt) ? cJSON_GetObjectItemCaseSensitive(opt, "frame_size") : NULL;
            if (fs && (get_u64(&c, opt, "frame_size", &m->frame_size) || !m->frame_size ||
                       m->frame_size > SEEKABLE_MAX_FRAME_SIZE))
                rc = bl_fail_at(e, path, key_offset(&c, "frame_size"), "\"frame_size\" must be 1..%u",
                                SEEKABLE_MAX_FRAME_SIZE);
        }
    }
    cJSON_Delete(root);
    free(text);
    if (rc) manifest_free(m);
    return rc;
}

const ManifestSplit *manifest_split(const Manifest *m, const char *name)
{
    if (!strcmp(name, "train")) return &m->train;
    if (!strcmp(name, "val")) return &m->val;
    return NULL;
}

static void free_split(ManifestSplit *s)
{
    for (int i = 0; i < s->nshards; i++) free(s->shards[i].file);
    free(s->shards);
}

void manifest_free(Manifest *m)
{
    free_split(&m->train);
    free_split(&m->val);
    memset(m, 0, sizeof *m);
}

int manifest_is_corpus_dir(const char *dir)
{
    char path[4096], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, CORPUS_MANIFEST);
    if (access(path, F_OK)) return 0;
    if (read_small_file(path, (size_t)1 << 30, &text, &len, NULL)) return 0;
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    int ok = cJSON_IsString(fmt) && !strcmp(fmt->valuestring, CORPUS_FORMAT);
    cJSON_Delete(root);
    free(text);
    return ok;
}
