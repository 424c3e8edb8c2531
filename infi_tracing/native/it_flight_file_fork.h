/* The crash-survival file across fork() (it_flight_file.h): the child
 * leaves the parent's file before it writes anything, then maps a file of
 * its own at the same address.  Here because it needs the drain's ring
 * lists (it_drain.h); called with the GIL in the child's at-fork hook,
 * before its drain starts (no other thread exists). */
#ifndef IT_FLIGHT_FILE_FORK_H
#define IT_FLIGHT_FILE_FORK_H

#include "it_drain.h"
#include "it_flight_file.h"

/* Every ring the child knows of: the drain's list and those not adopted yet.
 * Returns how many (a malloc'd array in *out; NULL when none or no memory). */
static size_t it_ff_child_rings(it_ring ***out) {
    size_t n = 0;
    it_ring *adopt = atomic_load(&it_d.adopt);
    for (it_ring *r = it_d.rings; r; r = r->next)
        n++;
    for (it_ring *r = adopt; r; r = r->next)
        n++;
    *out = calloc(n ? n : 1, sizeof(it_ring *));
    if (!*out)
        return 0;
    n = 0;
    for (it_ring *r = it_d.rings; r; r = r->next)
        (*out)[n++] = r;
    for (it_ring *r = adopt; r; r = r->next)
        (*out)[n++] = r;
    return n;
}

/* First thing in the child: off the parent's file (anonymous memory). */
static void it_ff_child_detach(void) {
    if (!it_ff_cur)
        return;
    it_ring **rings = NULL;
    size_t n = it_ff_child_rings(&rings);
    it_ff_fork_detach(rings, n);
    free(rings);
}

/* Then, with the child's own file open as `fd`: map it.  0 or an errno value. */
static int it_ff_child_attach(int fd) {
    if (!it_ff_cur)
        return 0;
    it_ring **rings = NULL;
    size_t n = it_ff_child_rings(&rings);
    int rc = it_ff_fork_attach(fd, rings, n);
    free(rings);
    return rc;
}

#endif
