import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Notification, Notifier } from '#lib/ports/notifier.ts';

/** The local SNS topic: one JSON line per notification in notifications.jsonl. */
export class JsonlNotifier implements Notifier {
  constructor(
    readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async notify(n: Notification): Promise<string> {
    const id = randomUUID();
    await mkdir(dirname(this.file), { recursive: true });
    // One appendFile call per line: lines from concurrent writers never interleave within a line.
    await appendFile(
      this.file,
      `${JSON.stringify({ id, at: this.now().toISOString(), subject: n.subject, message: n.message })}\n`,
    );
    return id;
  }
}
