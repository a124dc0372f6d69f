import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parseCanaryEvent } from '#functions/canary/handler.ts';

describe('sample canary events', () => {
  it.each(['canary-deploy.json', 'canary-judge.json', 'canary-expire.json'])(
    'events/%s is a valid canary event',
    (file) => {
      const event = JSON.parse(readFileSync(`events/${file}`, 'utf8')) as { action: string };
      expect(parseCanaryEvent(event).action).toBe(event.action);
    },
  );
});
