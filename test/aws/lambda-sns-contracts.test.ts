import { CreateAliasCommand, CreateFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { LambdaAliasDeployer } from '#lib/adapters/aws/lambda-alias-deployer.ts';
import { SnsNotifier } from '#lib/adapters/aws/sns-notifier.ts';
import { deployerContract } from '../contracts/deployer.contract.ts';
import { notifierContract } from '../contracts/notifier.contract.ts';
import { sqs } from './support/deployment.ts';
import { ACCOUNT, REGION, describeWithEmulators, lambdaRole, uniqueName } from './support/emulators.ts';

const image = (n: number) =>
  `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/credit-risk-test-predict@sha256:${String(n).repeat(64).slice(0, 64)}`;

describeWithEmulators('Deployer contract: LambdaAliasDeployer on moto Lambda versions and aliases', () => {
  deployerContract(async () => {
    const lambda = new LambdaClient({});
    const functionName = uniqueName('predict');
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: functionName,
        PackageType: 'Image',
        Code: { ImageUri: image(0) },
        Role: await lambdaRole(uniqueName('predict-role')),
        Publish: false,
      }),
    );
    return {
      deployer: new LambdaAliasDeployer(lambda, functionName, 'live', 30),
      artifact: image,
      async aliasCreated(functionVersion) {
        // What the stack (serverless.yml) does at deploy: the alias exists before the canary moves it.
        await lambda.send(
          new CreateAliasCommand({
            FunctionName: functionName,
            Name: 'live',
            FunctionVersion: functionVersion,
          }),
        );
      },
      close: async () => lambda.destroy(),
    };
  });
});

describeWithEmulators('Notifier contract: SnsNotifier on a moto SNS topic', () => {
  notifierContract(async () => {
    const sns = new SNSClient({});
    const topic = await sns.send(new CreateTopicCommand({ Name: uniqueName('notifications') }));
    const queueName = uniqueName('subscriber');
    const { QueueUrl } = (await sqs('CreateQueue', { QueueName: queueName })) as { QueueUrl: string };
    await sns.send(
      new SubscribeCommand({
        TopicArn: topic.TopicArn,
        Protocol: 'sqs',
        Endpoint: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName}`,
      }),
    );
    return {
      notifier: new SnsNotifier(sns, topic.TopicArn!),
      async received() {
        const out = await sqs('ReceiveMessage', { QueueUrl, MaxNumberOfMessages: 10 });
        const messages = (out.Messages ?? []) as Array<{ Body: string }>;
        return messages.map((m) => {
          const body = JSON.parse(m.Body) as { MessageId: string; Subject: string; Message: string };
          return { id: body.MessageId, subject: body.Subject, message: body.Message };
        });
      },
      close: async () => sns.destroy(),
    };
  });
});
