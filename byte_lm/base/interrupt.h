/* Ctrl-C / SIGTERM for long jobs: the first signal asks the job to stop at the next safe point
 * (train saves a checkpoint); a second one ends the process at once, as usual. */
#ifndef BYTELM_INTERRUPT_H
#define BYTELM_INTERRUPT_H

void interrupt_install(void);   /* handle SIGINT and SIGTERM from now on */
int interrupt_requested(void);  /* the signal number received, 0 if none */
void interrupt_uninstall(void); /* back to the default actions */

#endif
