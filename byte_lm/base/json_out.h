/* The pieces of hand-written JSON output that need care: strings (paths may hold quotes,
 * backslashes or control characters) and numbers (JSON has no NaN or infinity). */
#ifndef BYTELM_JSON_OUT_H
#define BYTELM_JSON_OUT_H

#include <stdio.h>

/* s as a JSON string literal, quotes included. */
void json_put_string(FILE *f, const char *s);
/* v with printf format fmt (e.g. "%.6f"), or null when v is NaN or infinite. */
void json_put_number(FILE *f, const char *fmt, double v);

#endif
