import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { isWarmerEvent } from '#lib/serving/warmer.ts';

describe('warm-up event detection', () => {
  it('recognises the sample warm-up event the EventBridge rule sends', () => {
    expect(isWarmerEvent(JSON.parse(readFileSync('events/warmer.json', 'utf8')))).toBe(true);
  });

  it('recognises a bare EventBridge scheduled event', () => {
    expect(isWarmerEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} })).toBe(true);
  });

  it('never mistakes an API request for a warm-up, even one whose body says warmer', () => {
    const event = JSON.parse(readFileSync('events/predict-known.json', 'utf8'));
    expect(isWarmerEvent(event)).toBe(false);
    expect(isWarmerEvent({ ...event, body: '{"warmer": true}' })).toBe(false);
  });

  it.each([
    [null],
    [undefined],
    ['warmer'],
    [{ warmer: 'true' }],
    [{ source: 'aws.events', 'detail-type': 'Other' }],
  ])('is false for %p', (event) => {
    expect(isWarmerEvent(event)).toBe(false);
  });
});
