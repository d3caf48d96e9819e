/* CUTE's files: a task's TSV and prompts.json, read strictly. A TSV's fields are kept as their
 * bytes exactly (rows hold quotes and punctuation); every refusal is one line naming the file and,
 * for a TSV, the byte offset. */
#include <cJSON.h>
#include <string.h>
#include <utf8proc.h>

#include "byte_lm/base/file_read.h"
#include "eval/cute.h"

#define CUTE_FILE_MAX ((size_t)64 << 20) /* a TSV or prompts.json larger than this is refused */

/* The offset of the first byte of p[0..n) that does not belong to valid UTF-8, or n. */
static size_t utf8_bad_at(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)p[i] < 0x80) {
            i++;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)p + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return n;
}

/* Cuts line[0..n) (no newline) into exactly `want` tab-separated fields, NUL-terminating each
 * in place; fields[] gets their starts. Returns the number of fields found (want on success). */
static int split_fields(char *line, size_t n, int want, char **fields, int *empty)
{
    int k = 0;
    *empty = 0;
    char *start = line;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] != '\t') continue;
        if (k < want) fields[k] = start;
        if (line + i == start) *empty = 1;
        k++;
        if (i < n) line[i] = 0;
        start = line + i + 1;
    }
    return k;
}

static int check_header(const char *line, size_t n, int inputs, const char *path, BlErr *e)
{
    char want[64];
    int len = 0;
    for (int i = 0; i < inputs; i++) len += snprintf(want + len, sizeof want - (size_t)len, "input%d\t", i + 1);
    len += snprintf(want + len, sizeof want - (size_t)len, "label");
    if (n != (size_t)len || memcmp(line, want, n))
        return bl_fail_at(e, path, 0, "the header must be 'input1%s%s\\tlabel' for this task",
                          inputs > 1 ? "\\tinput2" : "", inputs > 2 ? "\\tinput3" : "");
    return 0;
}

int cute_set_load(CuteSet *s, const char *dir, int task, long limit, BlErr *e)
{
    memset(s, 0, sizeof *s);
    s->task = task;
    const CuteTaskInfo *t = cute_task(task);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s.tsv", dir, t->name) >= sizeof path)
        return bl_fail(e, dir, "directory name too long");
    size_t n;
    if (file_read_all(path, CUTE_FILE_MAX, 0, &s->text, &n, e)) return -1;
    char *p = s->text;
    if (n == 0) {
        cute_set_free(s);
        return bl_fail_at(e, path, 0, "empty file: expected a header line and rows");
    }
    long cap = 0, lineno = 0;
    int fields = t->inputs + 1;
    for (size_t at = 0; at < n; lineno++) {
        char *nl = memchr(p + at, '\n', n - at);
        size_t len = nl ? (size_t)(nl - (p + at)) : n - at;
        char *line = p + at;
        size_t bad;
        int rc = 0;
        if (len > CUTE_LINE_MAX)
            rc = bl_fail_at(e, path, at, "line %ld is longer than %d bytes", lineno + 1, CUTE_LINE_MAX);
        else if (memchr(line, 0, len))
            rc = bl_fail_at(e, path, at + (size_t)((char *)memchr(line, 0, len) - line), "NUL byte");
        else if (memchr(line, '\r', len))
            rc = bl_fail_at(e, path, at + (size_t)((char *)memchr(line, '\r', len) - line),
                            "carriage return (lines must end in \\n alone)");
        else if ((bad = utf8_bad_at(line, len)) < len)
            rc = bl_fail_at(e, path, at + bad, "invalid UTF-8");
        else if (lineno == 0)
            rc = check_header(line, len, t->inputs, path, e);
        if (rc) {
            cute_set_free(s);
            return -1;
        }
        if (lineno > 0) {
            char *f[CUTE_MAX_INPUTS + 1];
            int empty, k = split_fields(line, len, fields, f, &empty);
            if (k != fields || empty) {
                cute_set_free(s);
                if (k != fields)
                    return bl_fail_at(e, path, at, "line %ld has %d tab-separated field%s; %s needs %d",
                                      lineno + 1, k, k == 1 ? "" : "s", t->name, fields);
                return bl_fail_at(e, path, at, "line %ld has an empty field", lineno + 1);
            }
            if (limit <= 0 || s->n < limit) {
                if (s->n == cap) {
                    cap = cap ? 2 * cap : 256;
                    s->rows = bl_realloc(s->rows, (size_t)cap * sizeof *s->rows);
                }
                CuteRow *r = &s->rows[s->n++];
                memset(r, 0, sizeof *r);
                for (int i = 0; i < t->inputs; i++) r->input[i] = f[i];
                r->label = f[t->inputs];
            }
        }
        if (nl) *nl = 0;
        at += len + 1;
    }
    if (s->n == 0) {
        cute_set_free(s);
        return bl_fail_at(e, path, n, "no rows after the header");
    }
    return 0;
}

void cute_set_free(CuteSet *s)
{
    free(s->rows);
    free(s->text);
    s->rows = NULL;
    s->text = NULL;
    s->n = 0;
}

/* The number of "{}" slots in s. */
static int count_slots(const char *s)
{
    int k = 0;
    for (const char *q = s; (q = strstr(q, "{}")); q += 2) k++;
    return k;
}

int cute_prompts_load(CutePrompts *p, const char *path, BlErr *e)
{
    memset(p, 0, sizeof *p);
    char *text;
    size_t n;
    if (file_read_all(path, CUTE_FILE_MAX, 0, &text, &n, e)) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t off = end && end >= text && end <= text + n ? (size_t)(end - text) : n;
        const char *err = cJSON_GetErrorPtr();
        if (err && err >= text && err <= text + n) off = (size_t)(err - text);
        free(text);
        return bl_fail_at(e, path, off, "not valid JSON");
    }
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = bl_fail(e, path, "expected a JSON object of prompts, one per task");
    for (int t = 0; t < CUTE_TASKS && !rc; t++) {
        const CuteTaskInfo *info = cute_task(t);
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, info->name);
        if (!cJSON_IsString(it)) {
            rc = bl_fail(e, path, "\"%s\": %s", info->name, it ? "expected a string" : "missing");
            break;
        }
        int k = count_slots(it->valuestring);
        if (k != info->inputs) {
            rc = bl_fail(e, path, "\"%s\": %d {} slot%s; the task has %d input%s", info->name, k,
                         k == 1 ? "" : "s", info->inputs, info->inputs == 1 ? "" : "s");
            break;
        }
        /* the zero-shot prompt keeps the first and last paragraphs: both must exist, and the
         * slots must all be in the last */
        const char *first = strstr(it->valuestring, "\n\n");
        const char *last = NULL;
        for (const char *q = it->valuestring; (q = strstr(q, "\n\n")); q++) last = q;
        if (!first || first == last || count_slots(last) != info->inputs) {
            rc = bl_fail(e, path, "\"%s\": expected an instruction, the examples and a question "
                         "holding every {}, separated by blank lines", info->name);
            break;
        }
        p->tmpl[t] = bl_malloc(strlen(it->valuestring) + 1);
        strcpy(p->tmpl[t], it->valuestring);
    }
    cJSON_Delete(root);
    free(text);
    if (rc) cute_prompts_free(p);
    return rc;
}

void cute_prompts_free(CutePrompts *p)
{
    for (int t = 0; t < CUTE_TASKS; t++) {
        free(p->tmpl[t]);
        p->tmpl[t] = NULL;
    }
}
