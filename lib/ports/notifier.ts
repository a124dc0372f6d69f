/** Tells people what the pipeline did: SNS in AWS, a notifications.jsonl file locally. */
export interface Notification {
  subject: string;
  message: string;
}

export interface Notifier {
  /** Returns the message id the backend gave it. */
  notify(notification: Notification): Promise<string>;
}
