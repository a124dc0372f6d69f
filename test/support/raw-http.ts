import { connect, type Socket } from 'node:net';

/** One HTTP/1.1 response read off a raw socket (the hostile suites write bytes no client library would). */
export interface RawResponse {
  status?: number;
  headers: Record<string, string>;
  /** The body parsed as JSON, or the text when it is not JSON. */
  body?: unknown;
  text: string;
  /** ms from connect until the server closed the socket; Infinity when the client gave up first. */
  closedAfterMs: number;
}

export function parseRawResponse(text: string, closedAfterMs: number): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { headers: {}, text, closedAfterMs };
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  // The socket is read as latin1 (one char per byte) so content-length slices bytes; the body is UTF-8.
  const bodyText = Buffer.from(text.slice(end + 4, end + 4 + length), 'latin1').toString('utf8');
  let body: unknown = bodyText || undefined;
  try {
    body = bodyText ? JSON.parse(bodyText) : undefined;
  } catch {
    // not JSON: kept as text, and the shape assertion will say so
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body, text: bodyText, closedAfterMs };
}

/**
 * Connects, lets `drive` write, resolves with the first response once the server closes the
 * socket or a whole response has arrived (content-length), or after giveUpMs.
 */
export function rawExchange(
  port: number,
  drive: (s: Socket) => void,
  giveUpMs = 15_000,
): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let started = 0;
    let done = false;
    const finish = (closedAfterMs: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseRawResponse(text, closedAfterMs));
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      text += d;
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text.slice(0, Math.max(end, 0)))?.[1];
      if (end >= 0 && length !== undefined && text.length >= end + 4 + Number(length))
        finish(performance.now() - started);
    });
    socket.on('error', () => undefined);
    const timer = setTimeout(() => finish(Number.POSITIVE_INFINITY), giveUpMs);
    socket.on('close', () => finish(performance.now() - started));
    socket.on('connect', () => {
      started = performance.now();
      drive(socket);
    });
  });
}

/** A POST /predict with BODY (bytes as given) and extra header lines, on its own connection. */
export function rawPost(
  port: number,
  body: string | Buffer,
  headers: string[] = ['Content-Type: application/json'],
  path = '/predict',
): Promise<RawResponse> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return rawExchange(port, (s) => {
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join('')}Content-Length: ${bytes.length}\r\n\r\n`,
    );
    s.write(bytes);
  });
}
