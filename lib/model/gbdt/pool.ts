import { Worker } from 'node:worker_threads';
import {
  drainWorkItems,
  KERNELS,
  rehearseKernels,
  TASK_BIN,
  TASK_VALID_SCORE,
  type SharedViews,
} from './kernels.ts';

/**
 * numThreads - 1 worker threads that share the training arrays with the main thread
 * (SharedArrayBuffers) and wake on an Atomics word: a histogram task costs microseconds to hand
 * out, not a postMessage round trip.
 *
 * control[0] packs (generation << 9) | (closed << 8) | joined-workers. A worker that wakes joins
 * the current task only while it is open (compare-and-swap), takes work items, and leaves. The
 * main thread takes items too, then closes the task and waits only for workers that joined: on a
 * busy machine a worker the OS has not scheduled yet costs nothing, the main thread does its
 * share. Which thread runs an item never changes the result (see kernels.ts).
 *
 * Workers are built from the kernels' source text (eval), which keeps them working the same way
 * under tsx, jest and an esbuild bundle, with no separate worker file to ship.
 */
const CLOSED = 256;
const JOINED_MASK = 255;
const GENERATION_SHIFT = 9;
const GENERATION_MASK = 0x3fffff;
/** Loads of the control word a waiting thread spins for before it sleeps (about a millisecond). */
const SPIN_LOADS = 100_000;
/**
 * Rounds of rehearseKernels a worker runs before its first task, on 4,096 rows (booster.ts). On
 * the 545k-row table with 2 threads, alternated 12-tree runs: the first tree took ~130-200 ms
 * after 2 rounds against ~210-270 ms without; 6 rounds, or 16,384 rows, slowed the set-up the
 * main thread does beside it more than they saved.
 */
export const REHEARSAL_ROUNDS = 2;
/**
 * control[1] counts sleeping workers and control[3] says the main thread sleeps: Atomics.notify
 * is a system call even with nobody waiting, so it is made only when someone is. (A thread
 * announces it sleeps before Atomics.wait re-checks the word, and the notifier changes the word
 * before it reads the announcement; with sequentially consistent atomics one of them sees the
 * other, so no wake-up is lost.)
 */
const SLEEPING_WORKERS = 1;
const MAIN_SLEEPING = 3;
/** Set by a worker whose kernel threw (a bug): the main thread throws instead of waiting. */
const WORKER_FAILED = 4;
/** In a rehearsal's control words: 1 when a worker finished its rehearsal, 2 when it failed. */
export const REHEARSAL_DONE = 5;

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private generation = 0;

  constructor(
    readonly views: SharedViews,
    numThreads: number,
    /**
     * Makes the views of a small table a worker warms its kernels up on before its first task
     * (rehearseKernels): one per worker, as the arrays of SharedArrayBuffers are shared, not copied.
     */
    rehearsal?: () => SharedViews,
  ) {
    Atomics.store(views.control, 0, CLOSED);
    const source = `
      const { workerData } = require('node:worker_threads');
      const kernels = [${KERNELS.map((k) => `(${k.toString()})`).join(', ')}];
      const drainWorkItems = (${drainWorkItems.toString()});
      const s = workerData.views;
      if (workerData.rehearsal) {
        // A warm-up only (its arrays are its own): nothing in it may stop training. Its outcome
        // goes to the rehearsal's control[${REHEARSAL_DONE}] (1 done, 2 failed) for tests to read.
        try {
          (${rehearseKernels.toString()})(workerData.rehearsal, kernels, drainWorkItems, ${REHEARSAL_ROUNDS});
          Atomics.store(workerData.rehearsal.control, ${REHEARSAL_DONE}, 1);
        } catch {
          Atomics.store(workerData.rehearsal.control, ${REHEARSAL_DONE}, 2);
        }
        Atomics.notify(workerData.rehearsal.control, ${REHEARSAL_DONE});
      }
      const control = s.control;
      let last = 0;
      for (;;) {
        let word = Atomics.load(control, 0);
        const generation = word >>> ${GENERATION_SHIFT};
        if (generation === last) {
          // Spin briefly before sleeping: tasks come back to back while a tree grows, and
          // waking from Atomics.wait costs tens of microseconds each time.
          let spins = ${SPIN_LOADS};
          while (spins-- > 0 && Atomics.load(control, 0) === word);
          if (Atomics.load(control, 0) === word) {
            Atomics.add(control, ${SLEEPING_WORKERS}, 1);
            Atomics.wait(control, 0, word);
            Atomics.sub(control, ${SLEEPING_WORKERS}, 1);
          }
          continue;
        }
        last = generation;
        let joined = false;
        while ((word >>> ${GENERATION_SHIFT}) === generation && (word & ${CLOSED}) === 0) {
          const seen = Atomics.compareExchange(control, 0, word, word + 1);
          if (seen === word) {
            joined = true;
            break;
          }
          word = seen;
        }
        if (!joined) continue;
        // The raw values are only needed for binning: drop them with the first later task (the
        // validation rows' with their first scoring, which always follows their binning).
        if (s.params[0] !== ${TASK_BIN} && s.raw.length > 0) s.raw = [];
        if (s.params[0] === ${TASK_VALID_SCORE} && s.valid.raw.length > 0) s.valid.raw = [];
        try {
          drainWorkItems(s, kernels);
        } catch (error) {
          // Leave the task (the main thread would wait for this worker forever), flag the
          // failure for it to throw, then let the error end this worker.
          Atomics.store(control, ${WORKER_FAILED}, 1);
          Atomics.sub(control, 0, 1);
          Atomics.notify(control, 0);
          throw error;
        }
        Atomics.sub(control, 0, 1);
        if (Atomics.load(control, ${MAIN_SLEEPING}) !== 0) Atomics.notify(control, 0);
      }
    `;
    for (let i = 1; i < numThreads; i++) {
      const worker = new Worker(source, { eval: true, workerData: { views, rehearsal: rehearsal?.() } });
      // A pool someone forgot to close must not keep the process alive.
      worker.unref();
      this.workers.push(worker);
    }
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** Runs `items` work items of the task set in views.params; returns when all are done. */
  run(items: number): void {
    const { control, params } = this.views;
    params[1] = items;
    Atomics.store(control, 2, 0);
    if (this.workers.length === 0 || items <= 1) {
      drainWorkItems(this.views, KERNELS);
      return;
    }
    // Generation 0 means "nothing yet" to the workers, so it is skipped on wrap-around.
    this.generation = (this.generation % GENERATION_MASK) + 1;
    Atomics.store(control, 0, this.generation << GENERATION_SHIFT);
    if (Atomics.load(control, SLEEPING_WORKERS) !== 0) Atomics.notify(control, 0);
    drainWorkItems(this.views, KERNELS);
    let word = Atomics.load(control, 0);
    for (;;) {
      const seen = Atomics.compareExchange(control, 0, word, word | CLOSED);
      if (seen === word) break;
      word = seen;
    }
    let spins = SPIN_LOADS;
    for (;;) {
      word = Atomics.load(control, 0);
      if ((word & JOINED_MASK) === 0) {
        if (Atomics.load(control, WORKER_FAILED) !== 0)
          throw new Error('internal: a GBDT worker thread failed (its error follows on stderr)');
        return;
      }
      if (spins-- > 0) continue;
      Atomics.store(control, MAIN_SLEEPING, 1);
      Atomics.wait(control, 0, word);
      Atomics.store(control, MAIN_SLEEPING, 0);
    }
  }

  /** The main thread's reference to the raw values; workers drop theirs with their next task. */
  releaseRaw(): void {
    this.views.raw = [];
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
