// What the benchmarks read from /proc (Linux): a process's CPU time and the machine's load. One
// place for the parsing, so every benchmark reports these figures the same way.
import { readFileSync } from 'node:fs';

/**
 * CPU seconds (user + system) process `pid` has used so far; undefined once it is gone. The
 * command name in /proc/<pid>/stat may hold spaces and parentheses, so the fields are counted
 * from the last ')'.
 */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/** CPU seconds process `pid` has used so far; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  return cpuSecondsOf(pid) ?? 0;
}

/** The machine's one-minute load average, as /proc/loadavg prints it. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;
}
