/* Smallest user program: spawn a task, join it, check its output.  Built
 * twice by build.sh test: as a meson subproject and against the installed
 * library through pkg-config. */
#include <asyncrt.h>
#include <stdio.h>

typedef struct answer { int out; } answer;

static ar_poll answer_poll(void *p, ar_cx *cx)
{
    (void)cx;
    ((answer *)p)->out = 42;
    return AR_READY;
}
static const ar_future_vt answer_vt = AR_FUTURE_VT(answer, answer_poll, NULL, out);

int main(void)
{
    ar_rt *rt;
    if (ar_rt_new(&rt, NULL) < 0)
        return 1;
    answer a = {0};
    ar_join h;
    int v = 0;
    if (ar_spawn(rt, &answer_vt, &a, &h) < 0 || ar_join_wait(&h, &v, sizeof v) < 0)
        return 1;
    ar_rt_free(rt);
    printf("consumer: %s %d\n", ar_version(), v);
    return v == 42 ? 0 : 1;
}
