/*
 * runtime/remote.c - remote-wake quiescence (see remote.h).
 */
#include <sched.h>
#include <stdint.h>

#include "remote.h"

ar__remote_slot ar__remote_slots[AR__REMOTE_SLOTS];
__thread char ar__remote_tls_anchor __attribute__((tls_model("initial-exec")));

void ar__remote_quiesce(void)
{
    /* Each slot only needs to be seen at zero once: a wake that enters
     * after that cannot submit a task of a runtime whose tasks are all
     * complete, so it never touches the runtime. */
    for (unsigned i = 0; i < AR__REMOTE_SLOTS; i++)
        while (atomic_load_explicit(&ar__remote_slots[i].n, memory_order_seq_cst) != 0)
            sched_yield();
}
