import { afterEach, describe, expect, it } from '@jest/globals';
import { Console } from 'node:console';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { divertTelemetry, LineFile } from '#local/server/telemetry-sink.ts';

describe('telemetry sink (local stand-in for the CloudWatch agent)', () => {
  let restore: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await restore?.();
    restore = undefined;
  });

  function dirs() {
    const root = mkdtempSync(join(tmpdir(), 'cr-sink-'));
    return { root, metrics: join(root, 'metrics'), logs: join(root, 'logs') };
  }

  it('writes every EMF line and log line unchanged and in order, across many event-loop turns', async () => {
    const d = dirs();
    restore = divertTelemetry(d, 't');
    const console = new Console({ stdout: process.stdout, stderr: process.stderr }); // as Powertools builds its own
    const emf: string[] = [];
    const logs: string[] = [];
    for (let turn = 0; turn < 50; turn++) {
      for (let i = 0; i < 7; i++) {
        const n = turn * 7 + i;
        const m = `{"_aws":{"Timestamp":${n}},"n":${n},"text":"é ${'x'.repeat(n % 13)}"}\n`;
        const l = `{"level":"INFO","message":"prediction","n":${n}}\n`;
        emf.push(m);
        logs.push(l);
        process.stdout.write(m);
        console.log(l.trimEnd());
      }
      await new Promise((r) => setImmediate(r));
    }
    await restore();
    restore = undefined;
    expect(readFileSync(join(d.metrics, 't.emf.jsonl'), 'utf8')).toBe(emf.join(''));
    expect(readFileSync(join(d.logs, 't.jsonl'), 'utf8')).toBe(logs.join(''));
  });

  it('has the lines in the files once restore resolves, even when they were written just before', async () => {
    const d = dirs();
    restore = divertTelemetry(d, 'u');
    process.stdout.write('{"_aws":{},"last":true}\n');
    await restore();
    restore = undefined;
    expect(readFileSync(join(d.metrics, 'u.emf.jsonl'), 'utf8')).toBe('{"_aws":{},"last":true}\n');
  });

  it('writes a lone line within its delay bound, and a big backlog without waiting for the timer', async () => {
    const d = dirs();
    restore = divertTelemetry(d, 'w');
    const file = join(d.metrics, 'w.emf.jsonl');
    process.stdout.write('{"_aws":{},"n":1}\n');
    expect(readFileSync(file, 'utf8')).toBe(''); // batched, not written per line
    await new Promise((r) => setTimeout(r, LineFile.MAX_DELAY_MS + 30));
    expect(readFileSync(file, 'utf8')).toBe('{"_aws":{},"n":1}\n');
    const line = `{"_aws":{},"pad":"${'p'.repeat(1000)}"}\n`;
    const count = Math.ceil(LineFile.MAX_PENDING_BYTES / line.length);
    for (let i = 0; i < count; i++) process.stdout.write(line);
    expect(readFileSync(file, 'utf8').length).toBe('{"_aws":{},"n":1}\n'.length + count * line.length);
  });

  it('calls the write callback and leaves non-JSON output to the terminal', async () => {
    const d = dirs();
    const original = process.stdout.write;
    const seen: string[] = [];
    process.stdout.write = ((chunk: string) => {
      seen.push(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      restore = divertTelemetry(d, 'v');
      let called = 0;
      process.stdout.write('{"level":"INFO"}\n', () => void called++);
      process.stdout.write('{"level":"INFO"}\n', 'utf8', () => void called++);
      process.stdout.write('plain text\n');
      expect(called).toBe(2);
      expect(seen).toEqual(['plain text\n']);
      await restore();
      restore = undefined;
    } finally {
      process.stdout.write = original;
    }
    expect(readFileSync(join(d.logs, 'v.jsonl'), 'utf8')).toBe('{"level":"INFO"}\n{"level":"INFO"}\n');
  });
});
