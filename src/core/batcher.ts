/**
 * Gathers requests made at about the same time and answers them with one call: `handle` gets
 * up to `maxSize` items (those that arrived within `delayMs` of the first, or fewer when that
 * many wait) and returns one result per item, in order. A worker sends a claimed slice at once,
 * so what each of its deliveries asks of the database (a frequency cap's check, an inbox item)
 * becomes one statement or transaction per slice instead of one each.
 * (The engine's outcome writer batches the same way, with retries of its own for database outages.)
 */
export class Batcher<T, R> {
  readonly #handle: (items: T[]) => Promise<R[]>;
  readonly #maxSize: number;
  readonly #delayMs: number;
  #waiting: { item: T; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(handle: (items: T[]) => Promise<R[]>, options: { maxSize?: number; delayMs?: number } = {}) {
    this.#handle = handle;
    this.#maxSize = options.maxSize ?? 500;
    this.#delayMs = options.delayMs ?? 2;
  }

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (this.#waiting.length >= this.#maxSize) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#delayMs);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#waiting;
    if (batch.length === 0) return;
    this.#waiting = [];
    this.#handle(batch.map((w) => w.item)).then(
      (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
      (err: unknown) => batch.forEach((w) => w.reject(err)),
    );
  }
}
