import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Notification, Notifier } from '#lib/ports/notifier.ts';

/** Notifier on an SNS topic (email subscribers get Subject as the mail subject, at most 100 chars). */
export class SnsNotifier implements Notifier {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async notify(n: Notification): Promise<string> {
    const out = await this.sns.send(
      new PublishCommand({ TopicArn: this.topicArn, Subject: n.subject.slice(0, 100), Message: n.message }),
    );
    return out.MessageId ?? '';
  }
}
