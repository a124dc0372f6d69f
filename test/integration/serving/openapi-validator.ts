import { Ajv2020 } from 'ajv/dist/2020.js';
import { readFileSync } from 'node:fs';

/**
 * Checks a real HTTP response against openapi/openapi.json: the status must be documented for the
 * operation, the body must match that response's JSON schema (JSON Schema 2020-12, as OpenAPI 3.1
 * uses), and documented headers must be present. Returns the list of problems (empty = valid).
 */
export interface OpenApiChecker {
  check(
    path: string,
    method: string,
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: unknown,
  ): string[];
}

type Json = Record<string, any>;

export function openApiChecker(file = 'openapi/openapi.json'): OpenApiChecker {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema(doc, 'openapi.json');

  const resolve = (node: Json): Json => {
    if (typeof node?.$ref !== 'string') return node;
    const pointer = node.$ref.replace(/^#\//, '').split('/');
    let at: Json = doc;
    for (const p of pointer) at = at[p];
    return resolve(at);
  };

  return {
    check(path, method, status, headers, body) {
      const operation = doc.paths?.[path]?.[method.toLowerCase()];
      if (!operation) return [`${method} ${path} is not documented`];
      const response = operation.responses[String(status)];
      if (!response) return [`status ${status} is not documented for ${method} ${path}`];
      const r = resolve(response);
      const problems: string[] = [];
      for (const [name, header] of Object.entries<Json>(r.headers ?? {})) {
        if (headers[name.toLowerCase()] === undefined) problems.push(`header ${name} missing`);
        const schema = resolve(header).schema;
        if (schema && headers[name.toLowerCase()] !== undefined) {
          const ok = ajv.validate(schema, headers[name.toLowerCase()]);
          if (!ok) problems.push(`header ${name}: ${ajv.errorsText()}`);
        }
      }
      const media = r.content?.['application/json'];
      if (media) {
        const schema = media.schema.$ref ? { $ref: `openapi.json${media.schema.$ref}` } : media.schema;
        if (!ajv.validate(schema, body))
          problems.push(`body: ${ajv.errorsText()} in ${JSON.stringify(body)}`);
      }
      return problems;
    },
  };
}
