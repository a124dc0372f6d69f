import type { CustomerFeatureRow } from '#lib/features/online.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';

/**
 * The FeatureStore port in memory, for tests about what a caller publishes (handlers, guards):
 * replaceSnapshot keeps the rows it was given under the snapshot id. PGlite and the RDS Data API
 * adapter have their own contract suite (test/contracts/feature-store.contract.ts).
 */
export class PublishingMemoryFeatureStore implements FeatureStore {
  rows = new Map<string, CustomerFeatureRow>();
  snapshot?: string;
  async init() {}
  async replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ) {
    const next = new Map<string, CustomerFeatureRow>();
    for await (const b of batches) for (const r of b) next.set(r.id, { ...r, snapshotId });
    this.rows = next;
    this.snapshot = snapshotId;
    return { rows: next.size };
  }
  async get(id: string) {
    return this.rows.get(id);
  }
  async currentSnapshot() {
    return this.snapshot;
  }
  async deleteCustomer(id: string) {
    return { deleted: this.rows.delete(id) ? 1 : 0 };
  }
  async ping() {}
  async close() {}
}
