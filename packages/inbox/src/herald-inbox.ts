import { LitElement, html, nothing, type PropertyValues } from 'lit';
import { createHeraldClient, unwrap, type EventStream, type HeraldClient, type InboxItem } from '@herald/client';
import { styles } from './styles.ts';
import { STRINGS, relativeTime, type InboxStrings } from './strings.ts';

export type { InboxItem } from '@herald/client';
export type { InboxStrings } from './strings.ts';

/**
 * `<herald-inbox base-url="https://herald.example.com" token="<user JWT>">`: a bell with the
 * unread count that opens the user's inbox; items arrive live over herald's event stream.
 *
 * Accessibility: the bell is a disclosure button (`aria-expanded`, `aria-controls`) whose name
 * says the unread count; the panel is a labelled region holding a list; new items are announced
 * through a polite live region. Opening moves focus to the panel's heading, Escape (or focus
 * leaving the component) closes it and returns focus to the bell, ArrowUp/ArrowDown/Home/End
 * move between items, and marking an item read keeps focus on that item.
 *
 * Events (bubbling, composed): `herald-inbox-item` (detail: the new item), `herald-inbox-read`
 * (detail: {id} or {all: true}), `herald-inbox-error` (detail: the error).
 */
export class HeraldInbox extends LitElement {
  static override styles = styles;
  static override properties = {
    baseUrl: { type: String, attribute: 'base-url' },
    token: { type: String },
    pageSize: { type: Number, attribute: 'page-size' },
    inline: { type: Boolean, reflect: true },
    open: { type: Boolean, reflect: true },
    live: { type: Boolean, reflect: true },
    strings: { attribute: false },
    items: { state: true },
    unread: { state: true },
    total: { state: true },
    status: { state: true },
    announcement: { state: true },
  };

  /** herald's origin. */
  declare baseUrl: string;
  /** The user's JWT (HS256 with HERALD_USER_JWT_SECRET, or from HERALD_USER_JWKS_URL). */
  declare token: string;
  /** Items loaded per page (1–200, default 20). */
  declare pageSize: number;
  /** Show the list in place, without the bell (a page of its own, the console's user page). */
  declare inline: boolean;
  declare open: boolean;
  /** True (and the `live` attribute set) while the event stream is connected. */
  declare live: boolean;
  /** The texts shown, for another language; see strings.ts. */
  declare strings: InboxStrings;
  declare items: InboxItem[];
  declare unread: number;
  declare total: number;
  declare status: 'idle' | 'loading' | 'ready' | 'error';
  declare announcement: string;

  #client: HeraldClient | undefined;
  #stream: EventStream | undefined;
  #generation = 0;
  readonly #onDocumentClick = (event: MouseEvent) => {
    if (this.open && !this.inline && !event.composedPath().includes(this)) this.open = false;
  };

  constructor() {
    super();
    this.baseUrl = '';
    this.token = '';
    this.pageSize = 20;
    this.inline = false;
    this.open = false;
    this.live = false;
    this.strings = STRINGS;
    this.items = [];
    this.unread = 0;
    this.total = 0;
    this.status = 'idle';
    this.announcement = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    document.addEventListener('click', this.#onDocumentClick);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    document.removeEventListener('click', this.#onDocumentClick);
    this.#disconnect();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('baseUrl') || changed.has('token') || changed.has('pageSize')) void this.#connect();
  }

  /** Reload the first page (counts included), e.g. after the page was hidden for long; false when it failed. */
  async refresh(): Promise<boolean> {
    const client = this.#client;
    if (!client) return false;
    const generation = this.#generation;
    try {
      const page = await unwrap(client.GET('/v1/me/inbox', { params: { query: { limit: this.#limit() } } }));
      if (generation !== this.#generation) return false;
      this.items = page.items;
      this.unread = page.unread;
      this.total = page.total;
      this.status = 'ready';
      return true;
    } catch (error) {
      if (generation === this.#generation) this.#fail(error);
      return false;
    }
  }

  async #connect(): Promise<void> {
    this.#disconnect();
    const generation = ++this.#generation;
    if (!this.baseUrl || !this.token || !this.isConnected) return;
    this.#client = createHeraldClient({ baseUrl: this.baseUrl, token: this.token });
    this.status = 'loading';
    if (!(await this.refresh()) || generation !== this.#generation) return;
    // Resume after the newest listed item: herald replays what arrived between the list and
    // the stream, so nothing falls in the gap.
    let opened = false;
    const resumeFrom = this.items[0]?.id;
    this.#stream = this.#client.inboxStream({
      lastEventId: resumeFrom,
      onItem: (item) => this.#received(item),
      onOpen: () => {
        // After a reconnect counts may have moved (other tabs). With nothing to resume from (an
        // empty inbox), what arrived before the stream opened is fetched once it is open.
        if (opened || resumeFrom === undefined) void this.refresh();
        opened = true;
        this.live = true;
      },
      onError: (error, fatal) => {
        this.live = false;
        if (fatal) this.#fail(error);
      },
    });
  }

  #disconnect(): void {
    this.live = false;
    this.#stream?.close();
    this.#stream = undefined;
    this.#client = undefined;
  }

  #limit(): number {
    return Math.min(200, Math.max(1, Math.trunc(this.pageSize) || 20));
  }

  #received(item: InboxItem): void {
    if (this.items.some((i) => i.id === item.id)) return;
    this.items = [item, ...this.items];
    this.total += 1;
    if (item.readAt === null) this.unread += 1;
    this.announcement = this.strings.announceNew(item.title ?? item.body ?? '');
    this.#emit('herald-inbox-item', item);
  }

  #fail(error: unknown): void {
    this.status = 'error';
    this.#emit('herald-inbox-error', error);
  }

  #emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  async #loadMore(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    try {
      const page = await unwrap(client.GET('/v1/me/inbox', { params: { query: { limit: this.#limit(), offset: this.items.length } } }));
      const known = new Set(this.items.map((i) => i.id));
      this.items = [...this.items, ...page.items.filter((i) => !known.has(i.id))];
      this.unread = page.unread;
      this.total = page.total;
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * Mark one item read: shown at once, undone if herald refuses. `keepalive` lets the request
   * outlive the page, for a click on the item's link that navigates away.
   */
  async markRead(id: string, options: { keepalive?: boolean } = {}): Promise<void> {
    const client = this.#client;
    const item = this.items.find((i) => i.id === id);
    if (!client || !item || item.readAt !== null) return;
    this.#setRead(id, new Date().toISOString());
    try {
      const saved = await unwrap(client.POST('/v1/me/inbox/{itemId}/read', { params: { path: { itemId: id } }, keepalive: options.keepalive ?? false }));
      this.items = this.items.map((i) => (i.id === id ? saved : i));
      this.#emit('herald-inbox-read', { id });
    } catch (error) {
      this.#setRead(id, null);
      this.#emit('herald-inbox-error', error);
    }
  }

  /** Mark every item read. */
  async markAllRead(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    const before = this.items;
    const unread = this.unread;
    const now = new Date().toISOString();
    this.items = this.items.map((i) => (i.readAt === null ? { ...i, readAt: now } : i));
    this.unread = 0;
    this.announcement = this.strings.announceAllRead;
    try {
      await unwrap(client.POST('/v1/me/inbox/read-all'));
      this.#emit('herald-inbox-read', { all: true });
    } catch (error) {
      this.items = before;
      this.unread = unread;
      this.#emit('herald-inbox-error', error);
    }
  }

  #setRead(id: string, readAt: string | null): void {
    this.items = this.items.map((i) => (i.id === id ? { ...i, readAt } : i));
    this.unread = Math.max(0, this.unread + (readAt === null ? 1 : -1));
  }

  async #toggle(): Promise<void> {
    this.open = !this.open;
    if (!this.open) return;
    void this.refresh();
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>('#heading')?.focus();
  }

  async #close(): Promise<void> {
    if (this.inline || !this.open) return;
    this.open = false;
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>('.bell')?.focus();
  }

  #onKeydown(event: KeyboardEvent): void {
    if (event.key === 'Escape') {
      event.stopPropagation();
      void this.#close();
      return;
    }
    const rows = [...this.renderRoot.querySelectorAll<HTMLElement>('li')];
    const at = rows.findIndex((row) => row.contains(this.shadowRoot?.activeElement ?? null));
    const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1 }[event.key];
    if (next === undefined || at === -1) return;
    event.preventDefault();
    rows[Math.min(rows.length - 1, Math.max(0, next))]?.focus();
  }

  #onFocusOut(event: FocusEvent): void {
    const to = event.relatedTarget as Node | null;
    if (this.open && !this.inline && to && !this.contains(to) && !this.shadowRoot?.contains(to)) this.open = false;
  }

  async #markAllFromButton(): Promise<void> {
    // The button goes away with the last unread item: move focus to the heading first.
    this.renderRoot.querySelector<HTMLElement>('#heading')?.focus();
    await this.markAllRead();
  }

  async #markFromButton(id: string): Promise<void> {
    // The button disappears once the item is read: keep focus on its row, not on <body>.
    const row = this.renderRoot.querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"]`);
    row?.focus();
    await this.markRead(id);
  }

  override render() {
    const s = this.strings;
    const expanded = this.inline || this.open;
    return html`
      ${this.inline ? nothing : html`
        <button class="bell" part="button" aria-expanded=${expanded ? 'true' : 'false'} aria-controls="panel"
          aria-label=${s.bellLabel(this.unread)} @click=${() => this.#toggle()}>
          <svg viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"/></svg>
          ${this.unread > 0 ? html`<span class="badge" part="badge" aria-hidden="true">${this.unread > 99 ? '99+' : this.unread}</span>` : nothing}
        </button>`}
      <section id="panel" class="panel" part="panel" aria-labelledby="heading" ?hidden=${!expanded}
        @keydown=${(e: KeyboardEvent) => this.#onKeydown(e)} @focusout=${(e: FocusEvent) => this.#onFocusOut(e)}>
        <header>
          <h2 id="heading" tabindex="-1">${s.heading}</h2>
          ${this.unread > 0 ? html`<button class="text-button" @click=${() => this.#markAllFromButton()}>${s.markAllRead}</button>` : nothing}
        </header>
        ${this.#body()}
      </section>
      <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">${this.announcement}</div>
    `;
  }

  #body() {
    const s = this.strings;
    if (this.status === 'error') return html`<p class="status" role="alert">${s.error} <button class="text-button" @click=${() => this.#connect()}>${s.retry}</button></p>`;
    if (this.status !== 'ready') return html`<p class="status">${s.loading}</p>`;
    if (this.items.length === 0) return html`<p class="status">${s.empty}</p>`;
    return html`
      <ul aria-labelledby="heading">
        ${this.items.map((item) => this.#item(item))}
      </ul>
      ${this.items.length < this.total ? html`<button class="more" @click=${() => this.#loadMore()}>${s.loadMore}</button>` : nothing}
    `;
  }

  #item(item: InboxItem) {
    const s = this.strings;
    const unread = item.readAt === null;
    const title = item.title ?? '';
    const link = item.url && /^https?:/i.test(item.url) ? item.url : undefined;
    return html`
      <li part="item" class=${unread ? 'unread' : 'read'} data-id=${item.id} tabindex="-1">
        <p class="title">${unread ? html`<span class="visually-hidden">${s.unread} </span>` : nothing}${link ? html`<a href=${link} @click=${() => this.markRead(item.id, { keepalive: true })}>${title || link}</a>` : title}</p>
        ${item.body ? html`<p class="body">${item.body}</p>` : nothing}
        <time datetime=${item.createdAt} title=${new Date(item.createdAt).toLocaleString()}>${relativeTime(item.createdAt)}</time>
        ${unread ? html`<button class="text-button mark" @click=${() => this.#markFromButton(item.id)} aria-label=${s.markReadLabel(title)}>${s.markRead}</button>` : nothing}
      </li>`;
  }
}

if (!customElements.get('herald-inbox')) customElements.define('herald-inbox', HeraldInbox);

declare global {
  interface HTMLElementTagNameMap {
    'herald-inbox': HeraldInbox;
  }
}
