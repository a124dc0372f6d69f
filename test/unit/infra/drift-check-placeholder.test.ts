import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { createHandler } from '#functions/drift-check/handler.ts';

describe('drift-check placeholder', () => {
  it('says it is not implemented instead of pretending to have checked drift', async () => {
    const out = await createHandler()({ trigger: 'schedule' }, { functionName: 'drift-check' } as Context);
    expect(out).toEqual({ implemented: false, message: expect.stringContaining('not implemented') });
  });
});
