/* Byte sizes on the command line: a number with an optional unit. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "corpus/prepare.h"

int parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},           {"b", 1},           {"k", 1024.0},      {"kib", 1024.0},      {"kb", 1e3},
        {"m", 1048576.0},  {"mib", 1048576.0}, {"mb", 1e6},        {"g", 1073741824.0},  {"gib", 1073741824.0},
        {"gb", 1e9},       {"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12},
    };
    if (!s || !isdigit((unsigned char)s[0])) return -1;
    char *end;
    double v = strtod(s, &end);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].unit)) continue;
        double b = v * units[i].mult;
        if (!(b >= 0 && b < 1.8e19) || b != floor(b)) return -1;
        *out = (uint64_t)b;
        return 0;
    }
    return -1;
}
