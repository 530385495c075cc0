/** At most `limit` concurrent tasks: acquire() waits for a free slot, idle() for all to finish. */
export class ConcurrencyGate {
  readonly #limit: number;
  #active = 0;
  readonly #waiting: Array<() => void> = [];
  readonly #idle: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  get active(): number {
    return this.#active;
  }

  async acquire(): Promise<void> {
    if (this.#active < this.#limit) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
  }

  release(): void {
    this.#active--;
    const next = this.#waiting.shift();
    if (next) next();
    else if (this.#active === 0) for (const done of this.#idle.splice(0)) done();
  }

  async idle(): Promise<void> {
    if (this.#active === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }
}
