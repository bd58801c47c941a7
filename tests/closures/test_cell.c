/*
 * tests/closures/test_cell.c - ar_cell: copy in and out, loans pointing at
 * the value, every conflict (E0499, E0502, E0505, E0506, E0382) leaving the
 * value and the counter untouched, re-initialising a moved-out cell, bad
 * arguments, and readers and writers on several threads.
 */
#include "closure_helpers.h"

typedef struct point {
    int x, y;
} point;

typedef AR_CELL(point) point_cell;
typedef AR_CELL(int) int_cell;

static void new_point(point_cell *c, int x, int y)
{
    T_OK(ar_cell_init(c, "p"));
    c->value = (point){x, y};
}

Test(cell, get_set_roundtrip, .timeout = 10)
{
    point_cell p;
    new_point(&p, 1, 2);
    point q = {0};
    T_OK(ar_cell_get(&p, &q));
    T_EQ_INT(q.x, 1);
    T_EQ_INT(q.y, 2);
    T_OK(ar_cell_set(&p, ((point){3, 4})));
    T_OK(ar_cell_get(&p, &q));
    T_EQ_INT(q.x + q.y, 7);
    cr_assert(eq(int, ar_cell_state(&p.cell, NULL), AR_BORROW_FREE));
}

Test(cell, loans_point_at_the_value, .timeout = 10)
{
    point_cell p;
    new_point(&p, 1, 2);
    ar_loan m;
    T_OK(ar_cell_borrow_mut(&p, &m));
    cr_assert(eq(ptr, m.ptr, &p.value));
    ((point *)m.ptr)->x = 10;
    T_OK(ar_loan_release(&m));
    ar_loan s1, s2;
    T_OK(ar_cell_borrow(&p, &s1));
    T_OK(ar_cell_borrow(&p, &s2));
    T_EQ_INT(((const point *)s1.ptr)->x, 10);
    T_EQ_INT(t_shared_count(&p.cell.borrow), 2);
    T_OK(ar_loan_release(&s1));
    T_OK(ar_loan_release(&s2));
}

Test(cell, exclusive_loan_blocks_everything, .timeout = 10)
{
    point_cell p;
    new_point(&p, 1, 2);
    ar_loan m, other;
    int line = __LINE__ + 1;
    T_OK(ar_cell_borrow_mut(&p, &m));
    point q = {-1, -1};

    T_EQ_INT(ar_cell_get(&p, &q), AR_EBORROWED);
    T_DIAG("E0502", "cannot borrow `p` as immutable because it is also borrowed as mutable");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_EQ_INT(q.x, -1); /* nothing copied */

    T_EQ_INT(ar_cell_set(&p, ((point){9, 9})), AR_EBORROWED);
    T_DIAG("E0506", "cannot assign to `p` because it is borrowed");
    T_EQ_INT(p.value.x, 1); /* nothing written */

    T_EQ_INT(ar_cell_take(&p, &q), AR_EBORROWED);
    T_DIAG("E0505", "cannot move out of `p` because it is borrowed");

    T_EQ_INT(ar_cell_borrow_mut(&p, &other), AR_EBORROWED);
    T_DIAG("E0499", "cannot borrow `p` as mutable more than once at a time");
    T_EQ_INT(ar_cell_borrow(&p, &other), AR_EBORROWED);
    T_DIAG("E0502", "help: the borrow ends when its loan is released or the closure");

    cr_assert(eq(int, ar_cell_state(&p.cell, NULL), AR_BORROW_EXCLUSIVE));
    T_OK(ar_loan_release(&m));
    T_OK(ar_cell_get(&p, &q));
    T_EQ_INT(q.x, 1);
}

Test(cell, shared_loan_allows_reads_only, .timeout = 10)
{
    int_cell v;
    T_OK(ar_cell_init(&v, "v"));
    v.value = 41;
    ar_loan s, m;
    T_OK(ar_cell_borrow(&v, &s));
    int x = 0;
    T_OK(ar_cell_get(&v, &x));
    T_EQ_INT(x, 41);
    T_EQ_INT(ar_cell_set(&v, 5), AR_EBORROWED);
    T_DIAG("E0506", "cannot assign to `v` because it is borrowed");
    T_DIAG("E0506", "immutable borrow occurs here");
    T_EQ_INT(ar_cell_borrow_mut(&v, &m), AR_EBORROWED);
    T_DIAG("E0502", "cannot borrow `v` as mutable because it is also borrowed as immutable");
    T_EQ_INT(t_shared_count(&v.cell.borrow), 1);
    T_OK(ar_loan_release(&s));
    T_OK(ar_cell_set(&v, 42));
    T_OK(ar_cell_get(&v, &x));
    T_EQ_INT(x, 42);
}

Test(cell, take_moves_and_set_reinitialises, .timeout = 10)
{
    int_cell last_word;
    T_OK(ar_cell_init(&last_word, "last_word"));
    last_word.value = 7;
    int got = 0;
    int line = __LINE__ + 1;
    T_OK(ar_cell_take(&last_word, &got));
    T_EQ_INT(got, 7);
    cr_assert(eq(int, ar_cell_state(&last_word.cell, NULL), AR_BORROW_MOVED));
    /* The seed's comment: `assert_eq!(..., last_word)` after the move. */
    T_EQ_INT(ar_cell_get(&last_word, &got), AR_EMOVED);
    T_DIAG("E0382", "borrow of moved value: `last_word`");
    T_EQ_INT(ar_borrow_last_error()->held->line, line);
    T_EQ_INT(ar_cell_take(&last_word, &got), AR_EMOVED);
    T_DIAG("E0382", "use of moved value: `last_word`");
    ar_loan l;
    T_EQ_INT(ar_cell_borrow(&last_word, &l), AR_EMOVED);
    /* Assigning gives it a value again, as `last_word = ...` does in Rust. */
    T_OK(ar_cell_set(&last_word, 8));
    T_OK(ar_cell_get(&last_word, &got));
    T_EQ_INT(got, 8);
}

Test(cell, bad_arguments, .timeout = 10)
{
    int_cell v;
    T_OK(ar_cell_init(&v, "v"));
    v.value = 1;
    long wrong = 0;
    ar_loan l;
    T_EQ_INT(ar_cell_read_at(&v.cell, &wrong, sizeof wrong, AR_HERE), -EINVAL);
    T_DIAG("", "buffer size is not the size of the cell's value");
    T_EQ_INT(ar_cell_write_at(&v.cell, &wrong, sizeof wrong, AR_HERE), -EINVAL);
    T_EQ_INT(ar_cell_take_at(&v.cell, &wrong, sizeof wrong, AR_HERE), -EINVAL);
    T_EQ_INT(ar_cell_read_at(&v.cell, NULL, sizeof(int), AR_HERE), -EINVAL);
    T_EQ_INT(ar_cell_write_at(&v.cell, NULL, sizeof(int), AR_HERE), -EINVAL);
    T_EQ_INT(ar_cell_read_at(NULL, &wrong, sizeof(int), AR_HERE), -EINVAL);
    T_EQ_INT(ar_cell_borrow_at(NULL, &l, AR_HERE), -EINVAL);
    T_EQ_INT(ar_cell_borrow_mut_at(&v.cell, NULL, AR_HERE), -EINVAL);
    int_cell zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    int x;
    T_EQ_INT(ar_cell_get(&zeroed, &x), -EINVAL);
    T_DIAG("", "NULL or uninitialised cell");
    T_EQ_INT(ar_cell_borrow(&zeroed, &l), -EINVAL);
    T_EQ_INT(ar_cell_init_raw(NULL, "x", 4, 32), -EINVAL);
    T_EQ_INT(ar_cell_init_raw(&v.cell, "x", 0, 32), -EINVAL);
    T_EQ_INT(ar_cell_init_raw(&v.cell, "x", 4, 0), -EINVAL);
    cr_assert(eq(int, ar_cell_state(NULL, NULL), AR_BORROW_FREE));
    /* Still intact after all that. */
    T_OK(ar_cell_get(&v, &x));
    T_EQ_INT(x, 1);
}

/* Readers copy a pair that writers always keep equal: a torn or racing
 * access would show unequal halves (and TSan would see the race). */
typedef struct pair_cell_test {
    point_cell p;
    _Atomic int stop;
    _Atomic long reads, writes, conflicts;
} pair_cell_test;

static void *cell_reader(void *arg)
{
    pair_cell_test *t = arg;
    while (!atomic_load(&t->stop)) {
        point q;
        int rc = ar_cell_get(&t->p, &q);
        if (rc == 0) {
            T_BG_EQ(q.x, q.y);
            atomic_fetch_add(&t->reads, 1);
        } else {
            T_BG_EQ(rc, AR_EBORROWED);
            atomic_fetch_add(&t->conflicts, 1);
        }
    }
    return NULL;
}

static void *cell_writer(void *arg)
{
    pair_cell_test *t = arg;
    for (int i = 1; i <= T_N(20000) / (T_SANITIZED ? 4 : 1); i++) {
        ar_loan m;
        if (ar_cell_borrow_mut(&t->p, &m) == 0) {
            point *v = m.ptr;
            v->x = i;
            v->y = i;
            ar_loan_release(&m);
            atomic_fetch_add(&t->writes, 1);
        } else if (ar_cell_set(&t->p, ((point){-i, -i})) == 0) {
            atomic_fetch_add(&t->writes, 1);
        }
    }
    return NULL;
}

Test(cell, readers_and_writers_on_threads, .timeout = 60)
{
    static pair_cell_test t;
    new_point(&t.p, 0, 0);
    pthread_t r1 = t_thread(cell_reader, &t), r2 = t_thread(cell_reader, &t);
    pthread_t w = t_thread(cell_writer, &t);
    pthread_join(w, NULL);
    atomic_store(&t.stop, 1);
    pthread_join(r1, NULL);
    pthread_join(r2, NULL);
    T_BG_ASSERT_CLEAN();
    cr_assert(t_is(atomic_load(&t.writes) > 0));
    cr_assert(eq(int, ar_cell_state(&t.p.cell, NULL), AR_BORROW_FREE));
}
