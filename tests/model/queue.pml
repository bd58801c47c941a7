/*
 * tests/model/queue.pml - spin model of the local run queue protocol
 * (runtime/queue.c: push_back with overflow, pop, pop_batch, steal_into)
 * with the test mode's 4 slots (AR_TINY_QUEUE).
 *
 * How it follows the code: every atomic operation of queue.c is one step
 * here: each load of head/tail/a slot, each store, each CAS (a d_step that
 * compares both halves of head and either swaps or re-reads, as
 * compare_exchange does).  Plain locals are process locals.  So spin
 * explores every interleaving of those operations between the threads.
 * Memory ordering is not modelled (spin is sequentially consistent); the
 * Release/Acquire pairs are what the ThreadSanitizer stress runs check.
 * Indices are bytes that wrap at 256 (u32 wrapping at 2^32 in the code) and
 * start at 253, so every run crosses the wrap.
 *
 * Threads: the owner of queue 0 pushes tasks 1..NTASKS in order, popping
 * (pop or pop_batch, max 2) between pushes as spin chooses, then drains
 * its queue; STEALERS threads (1 or 2), each the owner of its own queue,
 * steal from queue 0 into theirs (ar__queue_steal_into) up to NSTEAL
 * times, run the returned task, and drain their own queue.  Overflow goes
 * to the injection queue (a channel; inject_batch_must never fails here).
 *
 * Checked: every task is taken exactly once overall (by a pop, a batch, a
 * steal's returned task, a stealer's pop of a copied entry, or the
 * injection queue): none lost, none duplicated, never NULL/garbage; the
 * owner never writes a slot inside [steal, tail) of the current head (one
 * a stealer may still be copying: asserted at the store); the asserts of queue.c (at most CAP/2+1 stolen, the
 * pop never lands real on a steal in progress) hold; no deadlock.
 *
 * Mutants (-DMUT_...), each of which the verifier must reject, prove the
 * model can fail: MUT_PUSH_IGNORES_STEAL (push checks room against real
 * instead of steal), MUT_POP_MOVES_STEAL (pop moves both halves of head
 * while a steal is in progress).
 */

#define CAP 4
#define MASK 3
#ifndef NTASKS
#define NTASKS 6
#endif
#ifndef STEALERS
#define STEALERS 2
#endif
#ifndef NSTEAL
#define NSTEAL 2
#endif
#define NQ (STEALERS + 1)
#define D(a, b) (((a) - (b)) & 255)       /* u32 difference, wrapped */
#define START 253

byte hs[NQ], hr[NQ], tl[NQ];   /* head.steal, head.real, tail */
byte buf[NQ * CAP];            /* task ids, 0 = never written */
byte got[NTASKS + 1];          /* ghost: times each task was taken */
byte done_procs;
chan inject = [NTASKS + 1] of { byte };

inline take(t) {
  d_step { assert(t >= 1 && t <= NTASKS); got[t]++; assert(got[t] == 1) }
}

/* ar__queue_pop(q) -> t (0 = NULL) */
inline pop(q, t) {
  d_step { s = hs[q]; r = hr[q] }                       /* load head */
  do
  :: tail = tl[q];                                      /* load tail */
     if
     :: r == tail -> t = 0; break
     :: else ->
        nr = (r + 1) & 255;
        assert(s == r || nr != s);
        d_step {                                        /* CAS head */
          if
          :: hs[q] == s && hr[q] == r ->
#ifdef MUT_POP_MOVES_STEAL
               hs[q] = nr;                  /* mutant: forgets a steal in progress */
#else
               if :: s == r -> hs[q] = nr :: else -> skip fi;
#endif
               hr[q] = nr; ok = 1
          :: else -> s = hs[q]; r = hr[q]; ok = 0
          fi
        }
        if :: ok -> t = buf[q * CAP + (r & MASK)]; break    /* load slot */
           :: else -> skip fi
     fi
  od
}

/* ar__queue_pop_batch(q, out, 2): takes each entry as it is read */
inline pop_batch(q) {
  d_step { s = hs[q]; r = hr[q] }
  do
  :: tail = tl[q];
     n = D(tail, r); n = n - n / 2;
     if :: n > 2 -> n = 2 :: else -> skip fi;
     if
     :: n == 0 -> break
     :: else ->
        nr = (r + n) & 255;
        d_step {
          if
          :: hs[q] == s && hr[q] == r ->
               if :: s == r -> hs[q] = nr :: else -> skip fi; hr[q] = nr; ok = 1
          :: else -> s = hs[q]; r = hr[q]; ok = 0
          fi
        }
        if
        :: ok ->
           i = 0;
           do
           :: i < n -> t = buf[q * CAP + ((r + i) & MASK)]; take(t); i++
           :: else -> break
           od;
           break
        :: else -> skip
        fi
     fi
  od
}

/* ar__queue_push_back(q, t, inject) */
inline push_back(q, t) {
  do
  :: d_step { s = hs[q]; r = hr[q] }                    /* load head */
     tail = tl[q];                                      /* own tail */
     if
#ifdef MUT_PUSH_IGNORES_STEAL
     :: D(tail, r) < CAP -> break       /* mutant: overwrites slots being stolen */
#else
     :: D(tail, s) < CAP -> break
#endif
     :: else ->
        if
        :: s != r -> inject!t; goto pushed               /* a stealer is at work */
        :: else ->
           assert(D(tail, r) == CAP);
           d_step {                                     /* push_overflow's CAS */
             if
             :: hs[q] == r && hr[q] == r ->
                  hs[q] = (r + CAP / 2) & 255; hr[q] = hs[q]; ok = 1
             :: else -> ok = 0
             fi
           }
           if
           :: ok ->
              i = 0;
              do
              :: i < CAP / 2 -> v = buf[q * CAP + ((r + i) & MASK)]; assert(v != 0); inject!v; i++
              :: else -> break
              od;
              inject!t; goto pushed
           :: else -> skip                                /* retry */
           fi
        fi
     fi
  od;
  skip;
  d_step {                                              /* store slot */
    /* The slot is outside [steal, tail) as head is NOW: no stealer is
     * copying it (steal only moves forward, so the check made above on an
     * older head still holds). */
    assert(D(tail, hs[q]) < CAP);
    buf[q * CAP + (tail & MASK)] = t
  }
  tl[q] = (tail + 1) & 255;                             /* store tail (Release) */
pushed:
  skip
}

/* ar__queue_steal_into(src, dst) -> t (0 = NULL) */
inline steal_into(src, dst, t) {
  dtail = tl[dst];                                      /* own tail */
  ds = hs[dst];                                         /* load dst head */
  if
  :: D(dtail, ds) > CAP / 2 -> t = 0
  :: else ->
     /* steal_into2 */
     d_step { s = hs[src]; r = hr[src] }
     do
     :: stail = tl[src];                                /* load src tail */
        if
        :: s != r -> n = 0; break
        :: else ->
           n = D(stail, r); n = n - n / 2;
           if
           :: n == 0 -> break
           :: else ->
              d_step {
                if
                :: hs[src] == s && hr[src] == r -> hr[src] = (r + n) & 255; ok = 1
                :: else -> s = hs[src]; r = hr[src]; ok = 0
                fi
              }
              if :: ok -> break :: else -> skip fi
           fi
        fi
     od;
     if
     :: n == 0 -> t = 0
     :: else ->
        assert(n <= CAP / 2 + 1);
        i = 0;
        do                                              /* copy out */
        :: i < n -> v = buf[src * CAP + ((s + i) & MASK)]; assert(v != 0);
                    buf[dst * CAP + ((dtail + i) & MASK)] = v; i++
        :: else -> break
        od;
        /* let steal catch up with real */
        ps = s; pr = (r + n) & 255;
        do
        :: d_step {
             if
             :: hs[src] == ps && hr[src] == pr -> hs[src] = pr; ok = 1
             :: else -> ps = hs[src]; pr = hr[src]; ok = 0
             fi
           }
           if :: ok -> break
              :: else -> assert(ps != pr) fi
        od;
        n--;
        t = buf[dst * CAP + ((dtail + n) & MASK)];
        if :: n > 0 -> tl[dst] = (dtail + n) & 255 :: else -> skip fi
     fi
  fi
}

proctype owner() {
  byte s, r, nr, tail, n, i, t, v, next = 1;
  bit ok;
  do
  :: next <= NTASKS -> push_back(0, next); next++
  :: next <= NTASKS && next > 1 -> pop(0, t); if :: t -> take(t) :: else -> skip fi
  :: next <= NTASKS && next > 1 -> pop_batch(0)
  :: next > NTASKS -> break
  od;
  do                                                    /* drain */
  :: pop(0, t); if :: t -> take(t) :: else -> break fi
  od;
  done_procs++
}

proctype stealer(byte me) {
  byte s, r, nr, tail, n, i, t, v, dtail, ds, stail, ps, pr, k;
  bit ok;
  do
  :: k < NSTEAL -> k++; steal_into(0, me, t); if :: t -> take(t) :: else -> skip fi
  :: k < NSTEAL -> k++; pop(me, t); if :: t -> take(t) :: else -> skip fi
  :: else -> break
  od;
  do
  :: pop(me, t); if :: t -> take(t) :: else -> break fi
  od;
  done_procs++
}

/* When every thread finished: drain the injection queue, then every task
 * must have been taken exactly once. */
active proctype final() {
  byte t, i;
  done_procs == STEALERS + 1;
  do
  :: inject?t -> take(t)
  :: empty(inject) -> break
  od;
  i = 1;
  do
  :: i <= NTASKS -> assert(got[i] == 1); i++
  :: else -> break
  od
}

init {
  byte j;
  atomic {
    j = 0;
    do
    :: j < NQ -> hs[j] = START; hr[j] = START; tl[j] = START; j++
    :: else -> break
    od;
    run owner();
    j = 1;
    do
    :: j < NQ -> run stealer(j); j++
    :: else -> break
    od
  }
}
