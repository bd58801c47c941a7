/*
 * tests/model/task_state.pml - spin model of the task state word
 * (runtime/state.h) and the harness that drives it (runtime/task.c
 * ar__task_run / complete, runtime/join.c can_read_output / release).
 *
 * How it follows the code: every transition of state.h is a CAS loop (or
 * one fetch_xor / fetch_and / fetch_sub) whose body is a pure function of
 * the word it read; a failed CAS only re-reads.  So each loop is modelled
 * as ONE atomic step (d_step) that applies that function to the current
 * word: the interleavings spin explores are exactly the orders in which
 * the real read-modify-writes can take effect.  Everything between two
 * RMWs (plain loads, the poll, touching join_waker, queue pushes) is a
 * separate step, so other threads may run between them.  Memory ordering
 * is not modelled (spin is sequentially consistent); state.h makes every
 * transition AcqRel, so the orders the model sees are the ones allowed.
 *
 * One task, spawned joinable and RUNNING with its first queue entry owning
 * RUNNING (AR__ENTRY_RUNNING), three refs (registry, join handle, entry).
 * Threads: two workers taking entries from one run queue; a waker thread
 * that wakes (by value, or by reference then drop) every waker the future
 * cloned; a join-handle thread that joins, aborts then joins, detaches, or
 * aborts then detaches.  The future, on each poll (at most MAXP), returns
 * Ready, or Pending after cloning its waker for the waker thread, or
 * Pending after waking itself (the yield fast path, w->yielded).  So every
 * Pending is followed by a wake and the task must end COMPLETE.
 * With -DSHUTDOWN a sixth thread runs ar_rt_shutdown's steps against all
 * of that at any moment (see proctype shutdown): the task must then end
 * COMPLETE (dropped if it had not finished) and freed all the same.
 *
 * Checked (assert / end states):
 *  - the future is never polled or dropped after COMPLETE, never by two
 *    threads at once, dropped at most once;
 *  - at most one scheduled copy: a copy is created by the transition that
 *    returns SUBMIT (or by the spawn) and ends with the transition that
 *    gives up RUNNING or the entry (to_idle NOTHING/DEALLOC, to_running
 *    FAILED/DEALLOC, COMPLETE); a yield or OK_NOTIFIED passes it on; there
 *    is never more than one;
 *  - no lost wake: every run ends with the task COMPLETE (a wake during a
 *    poll re-polls), and a joiner waiting on the join waker is woken;
 *  - references: never below zero, never touched after dealloc, freed
 *    exactly once when everyone let go (no leak);
 *  - join_waker slot: never accessed by the task side and the handle side
 *    at once (the JOIN_WAKER rules of state.h);
 *  - the output is consumed (taken by the joiner or dropped) exactly once,
 *    and only when the future returned Ready.
 *
 * Mutants (-DMUT_...), each of which the verifier must reject, prove the
 * model can fail: MUT_IDLE_LOSES_NOTIFIED (to_idle ignores a wake that
 * came during the poll), MUT_WAKE_RUNNING_SUBMITS (a wake of a running task
 * queues it), MUT_JOIN_WAKER_AFTER_COMPLETE (set_join_waker does not see
 * COMPLETE), MUT_SHUTDOWN_TAKES_RUNNING (with SHUTDOWN: shutdown takes
 * RUNNING from a task that a queue entry or a worker owns).
 */

#define RUNNING        1
#define COMPLETE       2
#define NOTIFIED       4
#define JOIN_INTEREST  8
#define JOIN_WAKER     16
#define CANCELLED      32
#define RES_CANCELLED  64
#define REF_ONE        128
#define refs(s)        ((s) / REF_ONE)

#ifndef MAXP
#define MAXP 3
#endif

int st = RUNNING | JOIN_INTEREST | 3 * REF_ONE;
bit freed;            /* ghost: task deallocated */
byte copies;          /* ghost: queue entries + entries being run */
bit fut_busy;         /* ghost: a thread is inside poll/drop of the future */
bit fut_dropped;      /* ghost: the future was dropped (cancelled) */
bit fut_done;         /* ghost: the future returned Ready */
byte out_state;       /* ghost: 0 no output, 1 produced, 2 consumed */
bit slot_busy;        /* ghost: someone is touching t->join_waker */
bit slot_set;         /* t->join_waker holds a clone of the joiner's waker */
bit joiner_woken;     /* the joiner's thread waker was woken */
bit joiner_done;
byte npolls;
bit registered = 1;   /* in its worker's registry shard (owned.h) */
bit stopping;         /* SHUTDOWN: ar_rt_shutdown step 1 (workers leave their loop) */
byte exited;          /* workers that left their loop */
bit closed;           /* SHUTDOWN: the injection queue is closed (step 4) */
byte yielded;         /* w->yielded, per worker (only one polls at a time) */
chan q = [2] of { bit };   /* run queue: entry owns RUNNING? */
chan wk = [MAXP] of { bit }; /* wakers cloned by the future */

inline dealloc() { assert(!freed); freed = 1 }

inline ref_dec() {
  d_step { assert(!freed && refs(st) >= 1); st = st - REF_ONE; tmp = (refs(st) == 0) }
  if :: tmp -> dealloc() :: else -> skip fi
}

/* A new scheduled copy is created by the transition that returned SUBMIT
 * (counted there); ar__schedule only hands it to the queue.  From a plain
 * thread after shutdown closed the queues, the push releases the entry
 * instead (ar__task_drop_entry of a plain entry: one reference). */
inline schedule(e) { q!e }
inline schedule_ext() {
  d_step { if :: closed -> tmp = 1 :: else -> q!0; tmp = 0 fi }
  if
  :: tmp -> d_step { assert(!freed && refs(st) >= 1); st = st - REF_ONE; copies--; tmp = (refs(st) == 0) }
            if :: tmp -> dealloc() :: else -> skip fi
  :: else -> skip
  fi
}
inline new_copy() { copies++; assert(copies <= 1) }

/* ar__task_wake_by_ref / by_val from a thread other than the poller. */
inline notify_by_ref() {
  d_step {
    assert(!freed);
    if
    :: (st & (COMPLETE | NOTIFIED)) -> act = 0
    :: else -> if
#ifdef MUT_WAKE_RUNNING_SUBMITS
               :: false -> skip                 /* mutant: queues a running task */
#else
               :: (st & RUNNING) -> st = st | NOTIFIED; act = 0
#endif
               :: else -> st = (st | NOTIFIED) + REF_ONE; act = 1; new_copy()
               fi
    fi
  }
  if :: act == 1 -> schedule_ext() :: else -> skip fi
}
inline notify_by_val() {
  d_step {
    assert(!freed && refs(st) >= 1);
    if
    :: (st & RUNNING) -> st = (st | NOTIFIED) - REF_ONE; act = 0
    :: else -> if
               :: (st & (COMPLETE | NOTIFIED)) -> st = st - REF_ONE;
                    if :: refs(st) == 0 -> act = 2 :: else -> act = 0 fi
               :: else -> st = st | NOTIFIED; act = 1; new_copy()
               fi
    fi
  }
  if :: act == 1 -> schedule_ext() :: act == 2 -> dealloc() :: else -> skip fi
}

inline drop_future() {
  d_step { assert(!fut_busy && !fut_dropped && !fut_done && !(st & COMPLETE)); fut_busy = 1 }
  d_step { fut_dropped = 1; fut_busy = 0 }
}

inline drop_output() {
  d_step { assert(out_state == 1); out_state = 2 }
}

/* task.c complete(): the caller owns RUNNING; the worker owns the shard,
 * so the registry reference goes too (drop = 2). */
inline complete(cancelled) {
  if :: ndrop == 2 -> registered = 0 :: else -> skip fi;  /* ar__shard_remove */
  cur = st;                                   /* plain acquire load */
  if :: !(cur & JOIN_INTEREST) && !cancelled -> drop_output() :: else -> skip fi;
  d_step {                                    /* fast path CAS loop */
    assert(!freed);
    if
    :: !(cur & JOIN_INTEREST) && (st & JOIN_INTEREST) -> assert(0) /* cannot reappear */
    :: !(st & JOIN_INTEREST) && !(cur & JOIN_INTEREST) ->
         st = ((st & ~RUNNING) | COMPLETE | (cancelled -> RES_CANCELLED : 0)) - ndrop * REF_ONE;
         fast = 1; tmp = (refs(st) == 0); copies--
    :: else -> fast = 0
    fi
  }
  if
  :: fast -> if :: tmp -> dealloc() :: else -> skip fi
  :: else ->
     d_step {                                 /* ar__st_to_complete: fetch_xor */
       assert(!freed && (st & RUNNING) && !(st & COMPLETE));
       st = st ^ (RUNNING | COMPLETE | (cancelled -> RES_CANCELLED : 0));
       s = st; copies--
     }
     if :: !(s & JOIN_INTEREST) && !cancelled -> drop_output() :: else -> skip fi;
     if
     :: (s & JOIN_INTEREST) && (s & JOIN_WAKER) ->
          d_step { assert(!slot_busy && slot_set); slot_busy = 1 }
          d_step { joiner_woken = 1; slot_busy = 0 }      /* wake_by_ref(join_waker) */
          d_step { assert(!freed); st = st & ~JOIN_WAKER; s = st }
          if
          :: !(s & JOIN_INTEREST) ->
               d_step { assert(!slot_busy); slot_busy = 1 }
               d_step { slot_set = 0; slot_busy = 0 }
          :: else -> skip
          fi
     :: else -> skip
     fi;
     d_step { assert(!freed && refs(st) >= ndrop); st = st - ndrop * REF_ONE; tmp = (refs(st) == 0) }
     if :: tmp -> dealloc() :: else -> skip fi
  fi
}

inline cancel_and_complete() {
  drop_future();
  complete(1)
}

/* ar__task_run(e) */
inline run_entry(e) {
  if
  :: e ->
     d_step { assert(!freed); tmp = ((st & CANCELLED) != 0) }
     if :: tmp -> cancel_and_complete(); goto done :: else -> skip fi
  :: else ->
     d_step {                                  /* ar__st_to_running */
       assert(!freed);
       if
       :: !(st & (RUNNING | COMPLETE)) ->
            st = (st | RUNNING) & ~NOTIFIED;
            if :: (st & CANCELLED) -> act = 3 :: else -> act = 1 fi
       :: else -> assert(refs(st) > 0); st = st - REF_ONE; copies--;
            if :: refs(st) == 0 -> act = 2 :: else -> act = 4 fi
       fi
     }
     if
     :: act == 1 -> skip
     :: act == 3 -> cancel_and_complete(); goto done
     :: act == 2 -> dealloc(); goto done
     :: act == 4 -> goto done
     fi
  fi;
  /* the poll */
  d_step { assert(!fut_busy && !fut_dropped && !fut_done && !(st & COMPLETE) && (st & RUNNING));
           fut_busy = 1; npolls++ }
  if
  :: npolls < MAXP ->                          /* Pending, waker cloned */
       d_step { assert(!freed); st = st + REF_ONE; wk!1 } ; ready = 0
  :: npolls < MAXP -> yielded = 1; ready = 0   /* Pending, woke itself */
  :: true -> ready = 1
  fi;
  d_step { fut_busy = 0; if :: ready -> fut_done = 1; out_state = 1 :: else -> skip fi }
  if
  :: ready -> yielded = 0; complete(0)
  :: !ready && yielded ->                      /* self-wake fast path */
       yielded = 0; schedule(1)                /* the copy goes on */
  :: else ->
     d_step {                                  /* ar__st_to_idle */
       assert(!freed && (st & RUNNING));
       if
       :: (st & CANCELLED) -> act = 3
       :: else ->
            if
#ifdef MUT_IDLE_LOSES_NOTIFIED
            :: false -> skip                 /* mutant: a wake during the poll is lost */
#else
            :: (st & NOTIFIED) -> st = st & ~RUNNING; act = 5
#endif
            :: else -> st = (st & ~RUNNING) - REF_ONE; copies--;
                 if :: refs(st) == 0 -> act = 2 :: else -> act = 0 fi
            fi
       fi
     }
     if
     :: act == 5 -> schedule(0)                /* the copy goes on */
     :: act == 2 -> dealloc()
     :: act == 3 -> cancel_and_complete()
     :: act == 0 -> skip
     fi
  fi;
done:
  skip
}

proctype worker() {
  bit e, ready, fast, tmp;
  byte act, ndrop = 2; /* a worker completing its own shard's task removes it */
  int cur, s;
end:
  do
  :: atomic { !stopping && len(q) > 0 -> q?e } ->
     run_entry(e)
  :: stopping -> break
  od;
  exited++
}

#ifdef SHUTDOWN
/* runtime.c ar_rt_shutdown, at any moment: step 1 stops the workers (each
 * finishes the run it is in); step 3 pops the task from the registry and
 * runs ar__task_shutdown (idle: take RUNNING, drop the future, complete,
 * the registry's reference being the running one; otherwise release the
 * registry's reference); step 4 closes the injection queue and drains the
 * run queue with ar__task_drop_entry. */
proctype shutdown() {
  bit e, fast, tmp, idle;
  byte act, ndrop = 1;
  int cur, s;
  stopping = 1;
  exited == 2;
  if
  :: registered ->
     registered = 0;
     d_step {
       assert(!freed);
#ifdef MUT_SHUTDOWN_TAKES_RUNNING
       idle = !(st & COMPLETE);             /* mutant: takes a task a worker owns */
#else
       idle = !(st & (RUNNING | COMPLETE));
#endif
       st = st | CANCELLED | (idle -> RUNNING : 0)
     }
     if
     :: idle -> copies++; cancel_and_complete()  /* owns RUNNING, not an entry */
     :: else -> ref_dec()
     fi
  :: else -> skip
  fi;
  closed = 1;
  do
  :: q?e ->
     if
     :: e -> cancel_and_complete()                 /* an entry owning RUNNING */
     :: else -> d_step { assert(!freed && refs(st) >= 1); st = st - REF_ONE; copies--;
                         tmp = (refs(st) == 0) }
                if :: tmp -> dealloc() :: else -> skip fi
     fi
  :: empty(q) -> break
  od
}
#endif

/* The waker thread: each cloned waker is woken once, by value or by
 * reference followed by a drop. */
proctype waker() {
  bit w, tmp;
  byte act;
end:
  do
  :: wk?w ->
     if
     :: notify_by_val()
     :: notify_by_ref(); ref_dec()
     fi
  od
}

/* join.c: ar_join_abort */
inline abort() {
  d_step {
    assert(!freed);
    if
    :: (st & (CANCELLED | COMPLETE)) -> act = 0
    :: else ->
       if
       :: (st & RUNNING) -> st = st | NOTIFIED | CANCELLED; act = 0
       :: (st & NOTIFIED) && !(st & RUNNING) -> st = st | CANCELLED; act = 0
       :: !(st & (NOTIFIED | RUNNING)) -> st = (st | NOTIFIED | CANCELLED) + REF_ONE; act = 1;
          new_copy()
       fi
    fi
  }
  if :: act == 1 -> schedule_ext() :: else -> skip fi
}

/* join.c: release() */
inline release(taken) {
  d_step { assert(!freed && (st & JOIN_INTEREST));
           st = st & ~JOIN_INTEREST;
           if :: !(st & COMPLETE) -> st = st & ~JOIN_WAKER :: else -> skip fi;
           s = st }
  if
  :: !(s & JOIN_WAKER) ->
       d_step { assert(!slot_busy); slot_busy = 1 }
       d_step { slot_set = 0; slot_busy = 0 }
  :: else -> skip
  fi;
  if :: (s & COMPLETE) && !(s & RES_CANCELLED) && !taken -> drop_output() :: else -> skip fi;
  ref_dec()
}

/* join.c: ar_join_wait's loop over ar_join_poll / can_read_output. */
inline join_wait() {
  do
  :: joiner_woken = 0;                            /* ar__thread_waker_take */
     d_step { assert(!freed); s = st }
     if
     :: (s & COMPLETE) -> break
     :: !(s & COMPLETE) && (s & JOIN_WAKER) -> skip /* will_wake: same waker, Pending */
     :: else ->
        d_step { assert(!slot_busy); slot_busy = 1 }
        d_step { slot_set = 1; slot_busy = 0 }    /* join_waker = clone(waker) */
        d_step {                                  /* ar__st_set_join_waker */
          assert(!freed && (st & JOIN_INTEREST) && !(st & JOIN_WAKER));
#ifdef MUT_JOIN_WAKER_AFTER_COMPLETE
          st = st | JOIN_WAKER; ok = 1         /* mutant: misses the completion */
#else
          if :: (st & COMPLETE) -> ok = 0 :: else -> st = st | JOIN_WAKER; ok = 1 fi
#endif
        }
        if
        :: !ok ->
             d_step { assert(!slot_busy); slot_busy = 1 }
             d_step { slot_set = 0; slot_busy = 0 }
             break
        :: else -> skip
        fi
     fi;
     joiner_woken == 1                            /* park until woken */
  od;
  skip;
  d_step { assert(!freed && (st & COMPLETE)); s = st }
  if
  :: (s & RES_CANCELLED) -> assert(fut_dropped && !fut_done); release(0)
  :: else -> assert(fut_done); drop_output(); release(1)   /* output copied out */
  fi
}

proctype joiner() {
  bit tmp, ok;
  byte act;
  int s;
  if
  :: join_wait()
  :: abort(); join_wait()
  :: release(0)                                   /* detach */
  :: abort(); release(0)
  fi;
  joiner_done = 1
}

/* When nothing can move any more: every wake was acted on, so the task
 * completed, and every holder let go, so it was freed exactly once. */
active proctype final() {
  timeout ->
  assert(len(q) == 0 && len(wk) == 0);
  assert(st & COMPLETE);
  assert(joiner_done);
  assert(freed);
  assert(out_state != 1);
  assert(fut_done || fut_dropped);
  assert(!registered)
}

init {
  atomic {
    copies = 1; q!1;      /* the first entry owns RUNNING */
    run worker(); run worker(); run waker(); run joiner();
#ifdef SHUTDOWN
    run shutdown()
#endif
  }
}
