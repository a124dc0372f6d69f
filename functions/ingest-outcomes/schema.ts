import { parseS3ObjectEvent, type NewObject } from '#lib/pipeline/new-data.ts';
import { InputError } from '#lib/errors.ts';
import type { IngestSummary } from '#lib/monitoring/outcomes.ts';
import type { Clock } from '#lib/ports/clock.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';

/**
 * The ingest-outcomes event: S3 "Object Created" through EventBridge (infra/resources/outcomes.yml
 * routes only keys under outcomes/ of the raw bucket here). Anything else is a BAD_OUTCOMES_EVENT.
 */
export const OUTCOMES_DROP_PREFIX = 'outcomes/';
/** Where a file refused whole goes, with its reason (outside outcomes/: no event loop). */
export const OUTCOMES_REFUSED_PREFIX = 'outcomes-refused/';

export function parseOutcomesEvent(event: unknown): NewObject[] {
  const parsed = parseS3ObjectEvent(event);
  if (!parsed)
    throw new InputError('BAD_OUTCOMES_EVENT', 'ingest-outcomes event: not an S3 Object Created event');
  return parsed.objects;
}

export interface IngestOutcomesDeps {
  rawStore: ObjectStore;
  featuresStore: ObjectStore;
  clock: Clock;
}

export type IngestOutcome =
  | { key: string; status: 'ingested' | 'already-ingested'; summary: IngestSummary }
  | { key: string; status: 'refused'; code: string; reason: string }
  | { key: string; status: 'skipped'; reason: string };
