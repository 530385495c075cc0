/**
 * A small Dockerfile reader for the deployment tests: instructions with their line
 * continuations joined, grouped by build stage. Enough for herald's own Dockerfile (no heredocs,
 * no parser directives other than `# syntax`).
 */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

export function parseDockerfile(text: string): { stages: Stage[]; preamble: Instruction[] } {
  const instructions: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buffer && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (buffer && line.trimStart().startsWith('#')) return; // comments inside a continuation
    if (!buffer) start = i + 1;
    if (line.endsWith('\\')) {
      buffer += line.slice(0, -1) + ' ';
      return;
    }
    buffer += line;
    const match = /^\s*(\w+)\s+([\s\S]*)$/.exec(buffer);
    if (match) instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
    buffer = '';
  });
  const preamble: Instruction[] = [];
  const stages: { name: string; from: string; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ from: m?.[1] ?? ins.args, name: m?.[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      preamble.push(ins);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { stages, preamble };
}

export interface Copy {
  readonly from?: string;
  readonly sources: string[];
  readonly dest: string;
}

/** COPY's flags, sources and destination (shell form). */
export function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
  }
  const dest = words.pop() ?? '';
  return { from, sources: words, dest };
}

/** The JSON (exec) form of ENTRYPOINT/CMD/HEALTHCHECK CMD as an array. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) throw new Error(`not an exec form: ${args}`);
  return parsed;
}
