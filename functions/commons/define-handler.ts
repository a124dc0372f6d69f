import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { InputError } from '#lib/errors.ts';
import { logger, metrics } from './powertools.ts';

export type LambdaHandler<R> = (event: unknown, context: Context) => Promise<R>;

export interface HandlerSpec<E, D, R> {
  /** The event's parser (eventParser below): a bad event is an InputError naming the first issue. */
  parse(event: unknown): E;
  /** The work: the parsed event and the ports. Logic lives in lib/; this shapes the answer. */
  run(event: NoInfer<E>, deps: D, context: Context): Promise<R>;
}

export interface DefinedHandler<D, R> {
  /** A handler over these ports (tests, the local runner). */
  create(deps: D): LambdaHandler<R>;
  /**
   * The Lambda entry: the ports are made on the first invocation and kept for the container's
   * life, so importing a handler module reads no environment and never throws.
   */
  lazy(make: () => D): LambdaHandler<R>;
}

/**
 * The parser of an event schema: the parsed event, or the InputError every handler answers a bad
 * event with (`errorCode`, "<eventName>: <path>: <issue>").
 */
export function eventParser<S extends z.ZodType>(
  schema: S,
  errorCode: string,
  eventName: string,
): (event: unknown) => z.output<S> {
  return (event) => {
    const parsed = schema.safeParse(event);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new InputError(errorCode, `${eventName}: ${issue.path.join('.') || 'event'}: ${issue.message}`);
  };
}

/**
 * The one shape of a pipeline handler: parse the event with its zod schema, run the middy chain
 * (Powertools logger with the Lambda context, metrics flushed after each invocation), call the
 * domain, answer. The predict handler, an API Gateway proxy with its own error mapping, is the
 * one exception (functions/predict/handler.ts).
 */
export function defineHandler<E, D, R>(spec: HandlerSpec<E, D, R>): DefinedHandler<D, R> {
  const wrap = (deps: () => D): LambdaHandler<R> => {
    const handle = (event: unknown, context: Context) => spec.run(spec.parse(event), deps(), context);
    return middy(handle)
      .use(injectLambdaContext(logger))
      .use(logMetrics(metrics)) as unknown as LambdaHandler<R>;
  };
  return {
    create: (deps) => wrap(() => deps),
    lazy: (make) => {
      let deps: D | undefined;
      return wrap(() => (deps ??= make()));
    },
  };
}
