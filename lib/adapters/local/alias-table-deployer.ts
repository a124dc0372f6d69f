import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { AliasRouting, Deployer, PublishedVersion, PublishRequest } from '#lib/ports/deployer.ts';

/**
 * The local stand-in for the predict function's published versions and its `live` alias: one
 * JSON file (under home.builds) listing "Lambda versions" (build directories, numbered 1, 2, ...
 * as Lambda numbers them) and the alias routing. Written whole through a temp file and a rename,
 * so a reader sees the old table or the new one. `credit-risk serve` routes by the registry's
 * aliases; this table mirrors them with the build each version runs, as the real alias does.
 */
export interface AliasTable {
  versions: (PublishedVersion & { artifact: string; buildId: string; publishedAt: string })[];
  routing: AliasRouting | null;
}

export class AliasTableDeployer implements Deployer {
  /** The table of a local home: `<home>/builds/alias-live.json`. */
  static inBuilds(buildsDir: string, now?: () => Date): AliasTableDeployer {
    return new AliasTableDeployer(join(buildsDir, 'alias-live.json'), now);
  }

  constructor(
    readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async read(): Promise<AliasTable> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as AliasTable;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { versions: [], routing: null };
      throw e;
    }
  }

  private async write(table: AliasTable): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}-${randomUUID()}`;
    await writeFile(tmp, `${JSON.stringify(table, null, 2)}\n`);
    await rename(tmp, this.file);
  }

  async publish(request: PublishRequest): Promise<PublishedVersion> {
    const table = await this.read();
    const existing = table.versions.find(
      (v) => v.artifact === request.artifact && v.modelVersion === request.modelVersion,
    );
    if (existing) return { functionVersion: existing.functionVersion, modelVersion: existing.modelVersion };
    const functionVersion = String(table.versions.length + 1);
    table.versions.push({
      functionVersion,
      modelVersion: request.modelVersion,
      artifact: request.artifact,
      buildId: request.buildId,
      publishedAt: this.now().toISOString(),
    });
    await this.write(table);
    return { functionVersion, modelVersion: request.modelVersion };
  }

  async routing(): Promise<AliasRouting | undefined> {
    return (await this.read()).routing ?? undefined;
  }

  async route(routing: AliasRouting): Promise<void> {
    const table = await this.read();
    for (const v of [routing.functionVersion, routing.canary?.functionVersion]) {
      if (v !== undefined && !table.versions.some((p) => p.functionVersion === v)) {
        throw new Error(`cannot route to version ${v}: it was never published (${this.file})`);
      }
    }
    table.routing = routing;
    await this.write(table);
  }

  async modelOf(functionVersion: string): Promise<string | undefined> {
    return (await this.read()).versions.find((v) => v.functionVersion === functionVersion)?.modelVersion;
  }

  async versionOf(modelVersion: string): Promise<string | undefined> {
    return (await this.read()).versions.findLast((v) => v.modelVersion === modelVersion)?.functionVersion;
  }
}
