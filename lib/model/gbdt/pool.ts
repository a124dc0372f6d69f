import { Worker } from 'node:worker_threads';
import { drainWorkItems, runWorkItem, TASK_STOP, type SharedViews } from './kernels.ts';

const TASK_RELEASE_RAW = 4;

/**
 * numThreads - 1 worker threads that share the training arrays with the main thread
 * (SharedArrayBuffers) and wake on an Atomics counter: a histogram task costs a few microseconds
 * to hand out, not a postMessage round trip. The main thread works too and then waits, so a
 * task's results are complete when run() returns.
 *
 * Workers are built from the kernels' source text (eval), which keeps them working the same way
 * under tsx, jest and an esbuild bundle, with no separate worker file to ship.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];

  constructor(
    readonly views: SharedViews,
    numThreads: number,
  ) {
    const source = `
      const { workerData } = require('node:worker_threads');
      const runWorkItem = (${runWorkItem.toString()});
      const drainWorkItems = (${drainWorkItems.toString()});
      const s = workerData;
      const control = s.control;
      // The generation when this worker was created: a task handed out before the worker got
      // here must still be seen as new (the main thread is already waiting for it).
      let seen = ${Atomics.load(views.control, 0)};
      for (;;) {
        Atomics.wait(control, 0, seen);
        const generation = Atomics.load(control, 0);
        if (generation === seen) continue;
        seen = generation;
        const task = s.params[0];
        if (task === ${TASK_RELEASE_RAW}) s.raw = [];
        else if (task !== ${TASK_STOP}) drainWorkItems(s, runWorkItem);
        if (Atomics.sub(control, 1, 1) === 1) Atomics.notify(control, 1);
        if (task === ${TASK_STOP}) break;
      }
    `;
    for (let i = 1; i < numThreads; i++) {
      const worker = new Worker(source, { eval: true, workerData: views });
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
      drainWorkItems(this.views, runWorkItem);
      return;
    }
    this.wake();
    drainWorkItems(this.views, runWorkItem);
    this.waitForWorkers();
  }

  /** Lets the workers drop their reference to the raw values once the bins are built. */
  releaseRaw(): void {
    this.views.raw = [];
    this.broadcast(TASK_RELEASE_RAW);
  }

  async close(): Promise<void> {
    if (this.workers.length === 0) return;
    this.broadcast(TASK_STOP);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }

  private broadcast(task: number): void {
    if (this.workers.length === 0) return;
    this.views.params[0] = task;
    this.views.params[1] = 0;
    Atomics.store(this.views.control, 2, 0);
    this.wake();
    this.waitForWorkers();
  }

  private wake(): void {
    const { control } = this.views;
    Atomics.store(control, 1, this.workers.length);
    Atomics.add(control, 0, 1);
    Atomics.notify(control, 0);
  }

  private waitForWorkers(): void {
    const { control } = this.views;
    for (;;) {
      const pending = Atomics.load(control, 1);
      if (pending === 0) return;
      Atomics.wait(control, 1, pending);
    }
  }
}
