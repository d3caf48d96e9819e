#include "byte_lm/base/interrupt.h"

#include <signal.h>
#include <string.h>

/* The one piece of process-wide mutable state in bytelm: a signal handler can reach nothing else.
 * Blocking the signals and polling sigpending() would avoid it, but threads created before the
 * block (OpenBLAS starts its pool when the library loads) would still take the signal and die. */
static volatile sig_atomic_t requested;

static void on_signal(int sig)
{
    requested = sig;
    /* a second Ctrl-C is the user insisting: let the default action end the process */
    signal(sig, SIG_DFL);
}

void interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int interrupt_requested(void) { return requested; }

void interrupt_uninstall(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}
