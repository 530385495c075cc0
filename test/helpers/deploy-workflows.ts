import { registerHooks } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * GitHub Actions workflow validation with GitHub's own parser (`@actions/workflow-parser`, the
 * schema behind the Actions language service): unknown keys, wrong value types and expressions
 * that use contexts where they are not available are all errors.
 *
 * The package imports its schema JSON without an import attribute (it is built for bundlers),
 * which Node refuses; this load hook supplies the JSON for that package only.
 */
registerHooks({
  load(url, context, nextLoad) {
    if (url.endsWith('.json') && url.includes('/node_modules/@actions/')) {
      return { format: 'json', source: readFileSync(fileURLToPath(url), 'utf8'), shortCircuit: true };
    }
    return nextLoad(url, context);
  },
});

const parser = await import('@actions/workflow-parser');

export interface WorkflowCheck {
  readonly errors: string[];
  readonly jobs: string[];
}

export async function checkWorkflow(name: string, content: string): Promise<WorkflowCheck> {
  const result = parser.parseWorkflow({ name, content }, new parser.NoOperationTraceWriter());
  const errors = result.context.errors.getErrors().map((e) => e.message);
  if (errors.length || !result.value) return { errors, jobs: [] };
  const template = await parser.convertWorkflowTemplate(result.context, result.value);
  const more = (template.errors ?? []).map((e) => e.Message);
  return { errors: more, jobs: (template.jobs ?? []).map((j) => j.id.value) };
}
