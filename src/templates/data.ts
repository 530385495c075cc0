import type { Problem, VariableSpec } from './types.ts';
import { isDateText } from './compile.ts';

/**
 * A send's `template.data` against the version's variable schema, before anything is stored:
 * each missing required variable and each value of the wrong type is one problem naming it.
 * Keys the schema does not declare are dropped (a newer caller may send more than an older
 * version uses); what is kept is what the notification stores and renders from.
 */
export function checkData(
  variables: Readonly<Record<string, VariableSpec>>,
  data: Readonly<Record<string, unknown>> | undefined,
  field = 'body.template.data',
): { data: Record<string, unknown>; problems: Problem[] } {
  const out: Record<string, unknown> = {};
  const problems: Problem[] = [];
  // By name: stored definitions are jsonb, which keeps no declaration order.
  for (const name of Object.keys(variables).sort()) {
    const spec = variables[name]!;
    const value = data?.[name];
    if (value === undefined || value === null) {
      if (spec.required) problems.push({ field: `${field}.${name}`, message: `is required (a ${describe(spec)})` });
      continue;
    }
    if (!fits(spec, value)) {
      problems.push({ field: `${field}.${name}`, message: `must be a ${describe(spec)}, not ${kindOf(value)}` });
      continue;
    }
    out[name] = value;
  }
  return { data: out, problems };
}

function fits(spec: VariableSpec, value: unknown): boolean {
  switch (spec.type) {
    case 'string': return typeof value === 'string';
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'boolean': return typeof value === 'boolean';
    case 'date': return typeof value === 'string' && isDateText(value);
  }
}

function describe(spec: VariableSpec): string {
  return spec.type === 'date' ? 'date: RFC 3339 text such as 2026-12-01T09:00:00Z' : spec.type;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'number') return Number.isFinite(value) ? `the number ${value}` : 'a non-finite number';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** One line for an error message: the first problem, and how many more `details` lists. */
export function summariseProblems(problems: ReadonlyArray<Problem>): string {
  const first = problems[0]!;
  return `${first.field}: ${first.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`;
}
