// The webhook sink (bench/support/sink.ts) as a child process, asked over IPC for its counts.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SinkReport {
  count: number;
  first: number;
  last: number;
  duplicates: number;
  p50: number;
  p99: number;
  max: number;
}

export class Sink {
  readonly child: ChildProcess;
  port = 0;
  constructor() {
    this.child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'sink.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }
  ready(): Promise<void> {
    return new Promise((resolve) => this.child.once('message', (m: { port: number }) => {
      this.port = m.port;
      resolve();
    }));
  }
  ask<T>(type: string): Promise<T> {
    return new Promise((resolve) => {
      this.child.once('message', (m) => resolve(m as T));
      this.child.send({ type });
    });
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }
}
