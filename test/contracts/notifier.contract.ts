import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Notification, Notifier } from '#lib/ports/notifier.ts';

/**
 * The Notifier contract: JSONL locally, an SNS topic in AWS (on moto, read back through an SQS
 * queue subscribed to the topic, as an e-mail or chat subscriber would get it). `received` answers
 * what a subscriber got so far, oldest first.
 */
export interface NotifierSubject {
  notifier: Notifier;
  received(): Promise<Array<Notification & { id: string }>>;
  close?(): Promise<void>;
}

export function notifierContract(open: () => Promise<NotifierSubject>): void {
  let subject: NotifierSubject;

  beforeAll(async () => {
    subject = await open();
  });
  afterAll(async () => {
    await subject?.close?.();
  });

  it('each notification gets its own id and reaches the subscriber with its subject and message intact', async () => {
    const sent = [
      { subject: 'credit-risk: model promoted', message: 'version 1a2b3c promoted\nAUC 0.81 → 0.83' },
      { subject: 'credit-risk: training failed', message: '{"error":"TrainingFailed","cause":"é"}' },
    ];
    const ids: string[] = [];
    for (const n of sent) ids.push(await subject.notifier.notify(n));
    expect(ids.every((id) => id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(2);
    const got = await subject.received();
    expect(got.map((g) => ({ id: g.id, subject: g.subject, message: g.message }))).toEqual(
      sent.map((n, i) => ({ id: ids[i], ...n })),
    );
  });
}
