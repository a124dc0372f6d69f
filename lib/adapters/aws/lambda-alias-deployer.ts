import {
  GetAliasCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  ResourceNotFoundException,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
  waitUntilFunctionUpdatedV2,
  waitUntilPublishedVersionActive,
} from '@aws-sdk/client-lambda';
import type { AliasRouting, Deployer, PublishedVersion, PublishRequest } from '#lib/ports/deployer.ts';

/**
 * Deployer on the predict Lambda and its alias (`live`): a rebuilt image becomes an immutable
 * published version whose Description names the model and build (`model=<sha256> build=<id>`),
 * and the alias RoutingConfig gives the canary its weight. Publishing is idempotent: a version
 * with the same description is found and returned instead of publishing another.
 */
export class LambdaAliasDeployer implements Deployer {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
    private readonly aliasName: string,
    private readonly maxWaitSeconds = 600,
  ) {}

  static description(request: Pick<PublishRequest, 'modelVersion' | 'buildId'>): string {
    return `model=${request.modelVersion} build=${request.buildId}`.slice(0, 256);
  }

  private async findVersion(description: string): Promise<string | undefined> {
    return this.newestVersion((d) => d === description);
  }

  /** The highest published version number whose Description matches (every page is read). */
  private async newestVersion(matches: (description: string) => boolean): Promise<string | undefined> {
    let marker: string | undefined;
    let newest: string | undefined;
    do {
      const page = await this.lambda.send(
        new ListVersionsByFunctionCommand({ FunctionName: this.functionName, Marker: marker }),
      );
      for (const v of page.Versions ?? []) {
        if (!v.Version || v.Version === '$LATEST' || !matches(v.Description ?? '')) continue;
        if (newest === undefined || Number(v.Version) > Number(newest)) newest = v.Version;
      }
      marker = page.NextMarker;
    } while (marker);
    return newest;
  }

  async publish(request: PublishRequest): Promise<PublishedVersion> {
    const description = LambdaAliasDeployer.description(request);
    const existing = await this.findVersion(description);
    if (existing) return { functionVersion: existing, modelVersion: request.modelVersion };
    const updated = await this.lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: this.functionName, ImageUri: request.artifact }),
    );
    await waitUntilFunctionUpdatedV2(
      { client: this.lambda, maxWaitTime: this.maxWaitSeconds },
      { FunctionName: this.functionName },
    );
    // CodeSha256 pins the version to the code we just uploaded (a concurrent update fails instead).
    const published = await this.lambda.send(
      new PublishVersionCommand({
        FunctionName: this.functionName,
        Description: description,
        CodeSha256: updated.CodeSha256,
      }),
    );
    if (!published.Version) throw new Error(`PublishVersion of ${this.functionName} returned no version`);
    await waitUntilPublishedVersionActive(
      { client: this.lambda, maxWaitTime: this.maxWaitSeconds },
      { FunctionName: this.functionName, Qualifier: published.Version },
    );
    return { functionVersion: published.Version, modelVersion: request.modelVersion };
  }

  async routing(): Promise<AliasRouting | undefined> {
    try {
      const alias = await this.lambda.send(
        new GetAliasCommand({ FunctionName: this.functionName, Name: this.aliasName }),
      );
      if (!alias.FunctionVersion) return undefined;
      const [canary] = Object.entries(alias.RoutingConfig?.AdditionalVersionWeights ?? {});
      return {
        functionVersion: alias.FunctionVersion,
        canary: canary ? { functionVersion: canary[0], weight: canary[1] } : null,
      };
    } catch (e) {
      if (e instanceof ResourceNotFoundException) return undefined;
      throw e;
    }
  }

  async route(routing: AliasRouting): Promise<void> {
    await this.lambda.send(
      new UpdateAliasCommand({
        FunctionName: this.functionName,
        Name: this.aliasName,
        FunctionVersion: routing.functionVersion,
        RoutingConfig: {
          AdditionalVersionWeights: routing.canary
            ? { [routing.canary.functionVersion]: routing.canary.weight }
            : {},
        },
      }),
    );
  }

  /**
   * The model lives in the version's Description (`model=<sha256> build=<id>`, written by publish);
   * a version deployed with the stack (`image <uri>`) names no model and is never found here.
   */
  async versionOf(modelVersion: string): Promise<string | undefined> {
    const tag = `model=${modelVersion}`;
    return this.newestVersion((d) => d.split(' ').includes(tag));
  }

  async modelOf(functionVersion: string): Promise<string | undefined> {
    try {
      const config = await this.lambda.send(
        new GetFunctionConfigurationCommand({ FunctionName: this.functionName, Qualifier: functionVersion }),
      );
      return /model=([0-9a-f]{64})/.exec(config.Description ?? '')?.[1];
    } catch (e) {
      // An unknown version (Lambda: ResourceNotFoundException on the qualifier) serves no model,
      // as the port says; found by the Deployer contract on moto.
      if (e instanceof ResourceNotFoundException) return undefined;
      throw e;
    }
  }
}
