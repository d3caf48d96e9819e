/* What this binary is: version, build, backends and the libraries it was built with. */
#ifndef BYTELM_VERSION_H
#define BYTELM_VERSION_H

#include <stdio.h>

#define BYTELM_VERSION "0.1.0"

/* The lines `bytelm --version` prints. */
void version_print(FILE *f);

#endif
