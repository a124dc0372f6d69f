import { jest } from '@jest/globals';

/**
 * Runs fn while capturing process.stdout, and returns fn's result with every JSON line it printed
 * (Powertools EMF metric documents and structured logs), in order.
 */
export async function captureJsonLines<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; lines: Record<string, any>[] }> {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write);
  let result: T;
  try {
    result = await fn();
  } finally {
    spy.mockRestore();
  }
  const lines = chunks
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { result, lines };
}
