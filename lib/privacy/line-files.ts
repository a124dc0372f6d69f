import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
  ftruncateSync,
} from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { mentionPattern } from './customer-id.ts';

/**
 * Line files without the lines that mention a customer: JSON logs, EMF metric lines, the
 * prediction log. A line goes when the id appears in it as a whole token (customer-id.ts): a log
 * line about a request names its customer in a field or in the message. Streamed, so a log of
 * hundreds of megabytes is never in memory; `.gz` files are read and written compressed.
 */

export interface LineFilterResult {
  lines: number;
  removed: number;
}

class DropMentions extends Transform {
  lines = 0;
  removed = 0;
  private rest: Buffer = Buffer.alloc(0);

  constructor(private readonly pattern: RegExp) {
    super();
  }

  private keep(line: Buffer): boolean {
    this.lines++;
    // latin1 maps every byte to one character: the digits of an id match whatever the encoding.
    if (this.pattern.test(line.toString('latin1'))) {
      this.removed++;
      return false;
    }
    return true;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    const kept: Buffer[] = [];
    for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      const line = buf.subarray(start, nl + 1);
      if (this.keep(line)) kept.push(line);
      start = nl + 1;
    }
    this.rest = Buffer.from(buf.subarray(start));
    done(null, kept.length > 0 ? Buffer.concat(kept) : undefined);
  }

  override _flush(done: TransformCallback): void {
    if (this.rest.length > 0 && this.keep(this.rest)) done(null, this.rest);
    else done();
  }
}

/** Writes `output` with the lines of `input` that do not mention the id (gzip when input ends in .gz). */
export async function filterLines(input: string, output: string, id: string): Promise<LineFilterResult> {
  const gz = input.endsWith('.gz');
  const drop = new DropMentions(mentionPattern(id));
  const tmp = `${output}.tmp-erase-${process.pid}`;
  try {
    await pipeline([
      createReadStream(input),
      ...(gz ? [createGunzip()] : []),
      drop,
      ...(gz ? [createGzip()] : []),
      createWriteStream(tmp),
    ]);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  renameSync(tmp, output);
  return { lines: drop.lines, removed: drop.removed };
}

/**
 * The same filter over a file that a running process may be appending to (serve's log and metric
 * files are opened once in append mode, local/server/telemetry-sink.ts): the file keeps its inode,
 * so those writes keep landing in it. Filtered into a temporary file, then copied back over the
 * original from offset 0 and truncated. Lines appended while the file was filtered are filtered
 * too; a line appended in the instant between the last size check and the truncation would be cut,
 * which is why docs/SECURITY.md says to erase with serve stopped for a complete rewrite.
 * Compressed (rotated) files are never appended to and are replaced by rename.
 */
export async function filterLinesInPlace(file: string, id: string): Promise<LineFilterResult> {
  if (file.endsWith('.gz')) {
    const probeFile = `${file}.tmp-erase-probe-${process.pid}`;
    const probe = await filterLines(file, probeFile, id);
    if (probe.removed > 0) renameSync(probeFile, file);
    else rmSync(probeFile, { force: true });
    return probe;
  }
  const pattern = mentionPattern(id);
  const tmpFile = `${file}.tmp-erase-${process.pid}`;
  const fd = openSync(file, 'r+');
  const tmp = openSync(tmpFile, 'w+');
  try {
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    let lines = 0;
    let removed = 0;
    let kept = 0;
    let offset = 0;
    let rest: Buffer = Buffer.alloc(0);
    const line = (bytes: Buffer): void => {
      lines++;
      if (pattern.test(bytes.toString('latin1'))) removed++;
      else kept += writeSync(tmp, bytes, 0, bytes.length, kept);
    };
    // Until the size stops growing: lines a writer appends meanwhile are filtered too.
    for (let size = fstatSync(fd).size; offset < size; size = fstatSync(fd).size) {
      while (offset < size) {
        const n = readSync(fd, chunk, 0, Math.min(chunk.length, size - offset), offset);
        if (n === 0) break;
        offset += n;
        const buf = rest.length > 0 ? Buffer.concat([rest, chunk.subarray(0, n)]) : chunk.subarray(0, n);
        let start = 0;
        for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
          line(buf.subarray(start, nl + 1));
          start = nl + 1;
        }
        rest = Buffer.from(buf.subarray(start));
      }
    }
    if (rest.length > 0) line(rest);
    if (removed > 0) {
      for (let at = 0; at < kept;) {
        const n = readSync(tmp, chunk, 0, Math.min(chunk.length, kept - at), at);
        writeSync(fd, chunk, 0, n, at);
        at += n;
      }
      ftruncateSync(fd, kept);
    }
    return { lines, removed };
  } finally {
    closeSync(tmp);
    closeSync(fd);
    rmSync(tmpFile, { force: true });
  }
}
