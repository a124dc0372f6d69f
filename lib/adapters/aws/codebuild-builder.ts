import { BatchGetBuildsCommand, CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import type { Builder, BuildRequest, BuildResult } from '#lib/ports/builder.ts';

/**
 * Builder on CodeBuild: the image project (infra/resources/image-build.yml) builds the predict
 * image with MODEL_NAME/MODEL_VERSION baked in and exports IMAGE_URI (repository@digest). The
 * state machine calls the same project with codebuild:startBuild.sync; this adapter is the same
 * call for code that is not a state machine (operators, scripts).
 */
export class CodeBuildBuilder implements Builder {
  constructor(
    private readonly codebuild: CodeBuildClient,
    private readonly projectName: string,
    private readonly pollMs = 15_000,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async build(request: BuildRequest): Promise<BuildResult> {
    const started = await this.codebuild.send(
      new StartBuildCommand({
        projectName: this.projectName,
        environmentVariablesOverride: [
          { name: 'MODEL_NAME', value: request.modelName, type: 'PLAINTEXT' },
          { name: 'MODEL_VERSION', value: request.modelVersion, type: 'PLAINTEXT' },
        ],
      }),
    );
    const id = started.build?.id;
    if (!id) throw new Error(`CodeBuild ${this.projectName} started no build`);
    for (;;) {
      const { builds } = await this.codebuild.send(new BatchGetBuildsCommand({ ids: [id] }));
      const build = builds?.[0];
      if (build?.buildComplete) {
        if (build.buildStatus !== 'SUCCEEDED')
          throw new Error(`image build ${id} ended ${build.buildStatus}`);
        const image = build.exportedEnvironmentVariables?.find((v) => v.name === 'IMAGE_URI')?.value;
        if (!image) throw new Error(`image build ${id} exported no IMAGE_URI`);
        return { buildId: id, artifact: image, reused: false };
      }
      await this.sleep(this.pollMs);
    }
  }
}
