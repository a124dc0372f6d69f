import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InputError } from '#lib/errors.ts';

/**
 * The ASL files as data: where they are, which ${Placeholders} they use, which Task states they
 * hold (Map and Parallel bodies included). The same files are deployed by serverless.yml
 * (DefinitionSubstitutions) and run by the local runner (localSubstitutions).
 */
export type StateMachineName = 'training' | 'batch-scoring';

export const STATE_MACHINE_NAMES: readonly StateMachineName[] = ['training', 'batch-scoring'];

export function aslPath(name: StateMachineName): string {
  return fileURLToPath(new URL(`../../state-machines/${name}.asl.json`, import.meta.url));
}

export function readAsl(name: StateMachineName): string {
  return readFileSync(aslPath(name), 'utf8');
}

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

export function placeholders(aslText: string): string[] {
  return [...new Set([...aslText.matchAll(PLACEHOLDER)].map((m) => m[1]))].sort();
}

/** Fills every ${Name}; a placeholder without a value is an error that names it. */
export function substitute(aslText: string, values: Readonly<Record<string, string>>): string {
  const missing = placeholders(aslText).filter((p) => values[p] === undefined);
  if (missing.length > 0) {
    throw new InputError(
      'UNKNOWN_PLACEHOLDER',
      `no value for placeholder(s) ${missing.join(', ')} in the state machine`,
    );
  }
  // JSON-escape the value: it lands inside a JSON string.
  return aslText.replace(PLACEHOLDER, (_, name: string) => JSON.stringify(values[name]).slice(1, -1));
}

export interface AslState {
  Type: string;
  Resource?: string;
  Next?: string;
  End?: boolean;
  Default?: string;
  Choices?: { Next: string }[];
  Catch?: { ErrorEquals: string[]; Next: string; ResultPath?: string }[];
  Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number }[];
  Seconds?: number;
  Iterator?: AslDefinition;
  ItemProcessor?: AslDefinition;
  Branches?: AslDefinition[];
  [key: string]: unknown;
}

export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  Comment?: string;
  TimeoutSeconds?: number;
}

export interface NamedState {
  name: string;
  state: AslState;
  /** The enclosing Map/Parallel state, when the state runs inside one. */
  parent?: string;
}

/** Every state, nested ones included (state names are unique across a whole machine). */
export function allStates(definition: AslDefinition, parent?: string): NamedState[] {
  const out: NamedState[] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    out.push({ name, state, ...(parent ? { parent } : {}) });
    const bodies = [state.Iterator, state.ItemProcessor, ...(state.Branches ?? [])].filter(
      (b): b is AslDefinition => b !== undefined,
    );
    for (const body of bodies) out.push(...allStates(body, name));
  }
  return out;
}

export function taskStates(definition: AslDefinition): NamedState[] {
  return allStates(definition).filter((s) => s.state.Type === 'Task');
}
