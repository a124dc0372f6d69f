/**
 * The warm-up event: an EventBridge rule on a schedule invokes the predict alias with the constant
 * input `{"warmer": true}` (events/warmer.json). A bare EventBridge "Scheduled Event" envelope is
 * recognised too, in case a rule is created without the constant input. Neither is ever an API
 * Gateway request, so no real prediction can be mistaken for one.
 */
export function isWarmerEvent(event: unknown): boolean {
  if (typeof event !== 'object' || event === null) return false;
  const e = event as Record<string, unknown>;
  if (e.warmer === true) return true;
  return e.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}
