/**
 * Rebuilds the serving artifact with one registered model inside: CodeBuild building the predict
 * container image in AWS (infra/buildspec-image.yml), the esbuild bundle plus the model files in a
 * versioned directory locally. The same request always gives the same artifact (content-addressed),
 * so a repeated build is a no-op.
 */
export interface BuildRequest {
  modelName: string;
  modelVersion: string;
}

export interface BuildResult {
  buildId: string;
  /** IMAGE_URI (repository@digest) in AWS, the build directory locally. */
  artifact: string;
  /** true when an identical build already existed and nothing was rebuilt. */
  reused: boolean;
}

export interface Builder {
  build(request: BuildRequest): Promise<BuildResult>;
}
