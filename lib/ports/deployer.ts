/**
 * The serving function behind its alias: a Lambda function with the alias `live` in AWS (immutable
 * published versions, RoutingConfig weights), a table of local build directories locally. The
 * canary step publishes a rebuilt image as a new version and moves weights between versions;
 * which MODEL a version holds is recorded with it, so the registry and the alias can be compared.
 */
export interface PublishRequest {
  /** Registered model version (sha256) baked into the build. */
  modelVersion: string;
  /** Build output: IMAGE_URI in AWS, the local build directory locally. */
  artifact: string;
  /** CodeBuild id or local build id, for the trail. */
  buildId: string;
}

export interface PublishedVersion {
  /** The serving function's version: "7" in AWS, "3" locally. */
  functionVersion: string;
  modelVersion: string;
}

export interface AliasRouting {
  /** The version that takes the traffic not given to the canary. */
  functionVersion: string;
  /** At most one extra version and the share of requests it gets, in (0, 1). */
  canary: { functionVersion: string; weight: number } | null;
}

export interface Deployer {
  /**
   * Makes the artifact an immutable version of the serving function. Idempotent: publishing the
   * same artifact again returns the version it already has.
   */
  publish(request: PublishRequest): Promise<PublishedVersion>;
  /** The alias routing now, or undefined before anything was ever deployed. */
  routing(): Promise<AliasRouting | undefined>;
  /** Sets the whole routing in one call (one UpdateAlias): readers see the old or the new one. */
  route(routing: AliasRouting): Promise<void>;
  /** The model a function version serves, or undefined when the version is unknown. */
  modelOf(functionVersion: string): Promise<string | undefined>;
  /**
   * The newest published function version that serves this model (the registry version -> the
   * function version a promote or rollback routes to), or undefined when none was published.
   */
  versionOf(modelVersion: string): Promise<string | undefined>;
}
