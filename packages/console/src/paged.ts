import type { ReactiveController, ReactiveControllerHost } from 'lit';
import { describe } from './api.ts';

/** One page of a cursor-paged list, as herald's list routes answer it. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor?: string | null | undefined;
}

/**
 * A cursor-paged list shown a page at a time with a "More" button: the first page on load (or
 * when the query changes), the next on `more()`. Every list page of the console (topics, a
 * topic's subscribers, users) pages the same way, so the loading, appending and error
 * handling are written once here (a Lit reactive controller re-renders its host on change).
 */
export class PagedList<T> implements ReactiveController {
  items: T[] | undefined;
  next: string | null = null;
  error = '';
  readonly #host: ReactiveControllerHost;
  readonly #fetch: (cursor: string | undefined) => Promise<Page<T>>;

  constructor(host: ReactiveControllerHost, fetch: (cursor: string | undefined) => Promise<Page<T>>) {
    this.#host = host;
    this.#fetch = fetch;
    host.addController(this);
  }

  hostConnected(): void {
    void this.reload();
  }

  /** The first page again (the fetch function reads the host's current filter). */
  reload(): Promise<void> {
    return this.#load(false);
  }

  more(): Promise<void> {
    return this.#load(true);
  }

  async #load(more: boolean): Promise<void> {
    try {
      const page = await this.#fetch(more ? (this.next ?? undefined) : undefined);
      this.items = more ? [...(this.items ?? []), ...page.items] : [...page.items];
      this.next = page.nextCursor ?? null;
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
    this.#host.requestUpdate();
  }
}
