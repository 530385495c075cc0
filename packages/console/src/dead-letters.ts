import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { herald, unwrap, describe } from './api.ts';
import { href } from './app.ts';
import { when } from './format.ts';

type Page = Awaited<ReturnType<typeof load>>;
type Filter = { appId?: string; channel?: 'push' | 'email' | 'webhook' | 'inbox'; error?: string };

function load(filter: Filter, cursor?: string) {
  return unwrap(herald.GET('/v1/dead-letters', { params: { query: { ...filter, limit: 50, ...(cursor ? { cursor } : {}) } } }));
}

/** Dead letters: failed deliveries filtered by app, channel and error text; re-drive a selection. */
export class HcDeadLetters extends LitElement {
  static override properties = { items: { state: true }, next: { state: true }, selected: { state: true }, apps: { state: true }, error: { state: true }, notice: { state: true } };
  declare items: Page['items'] | undefined;
  declare next: string | undefined;
  declare selected: Set<string>;
  declare apps: string[];
  declare error: string;
  declare notice: string;
  #filter: Filter = {};

  constructor() {
    super();
    this.selected = new Set();
    this.apps = [];
    this.error = '';
    this.notice = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#load();
    unwrap(herald.GET('/v1/apps')).then((l) => { this.apps = l.items.map((a) => a.id); }, () => undefined);
  }

  async #load(more = false): Promise<void> {
    try {
      const page = await load(this.#filter, more ? this.next : undefined);
      this.items = more ? [...(this.items ?? []), ...page.items] : page.items;
      this.next = page.nextCursor;
      if (!more) this.selected = new Set();
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
  }

  #applyFilter(e: SubmitEvent): void {
    e.preventDefault();
    const f = (e.target as HTMLFormElement).elements;
    const value = (name: string) => (f.namedItem(name) as HTMLInputElement | HTMLSelectElement).value.trim();
    this.#filter = {
      ...(value('appId') ? { appId: value('appId') } : {}),
      ...(value('channel') ? { channel: value('channel') as Filter['channel'] } : {}),
      ...(value('error') ? { error: value('error') } : {}),
    };
    this.notice = '';
    void this.#load();
  }

  #toggle(id: string, on: boolean): void {
    const next = new Set(this.selected);
    if (on) next.add(id);
    else next.delete(id);
    this.selected = next;
  }

  async #redrive(): Promise<void> {
    const ids = [...this.selected];
    if (ids.length === 0) return;
    let notice = '';
    let failure = '';
    try {
      const r = await unwrap(herald.POST('/v1/dead-letters/redrive', { body: { ids } }));
      notice = `Re-driven ${r.redriven} of ${ids.length} selected.`;
    } catch (err) {
      failure = describe(err);
    }
    // The outcome is shown with the reloaded list, so what it reports and the rows agree
    // (and reloading does not wipe a failed re-drive's error).
    await this.#load();
    this.notice = notice;
    if (failure) this.error = failure;
  }

  override render(): TemplateResult {
    const items = this.items ?? [];
    const allOn = items.length > 0 && items.every((d) => this.selected.has(d.id));
    return html`
      <h1>Dead letters</h1>
      <form class="filters" @submit=${(e: SubmitEvent) => this.#applyFilter(e)}>
        <label>App <select name="appId"><option value="">any</option>${this.apps.map((a) => html`<option value=${a}>${a}</option>`)}</select></label>
        <label>Channel <select name="channel"><option value="">any</option>${['push', 'email', 'webhook', 'inbox'].map((c) => html`<option value=${c}>${c}</option>`)}</select></label>
        <label>Error contains <input name="error" type="search" maxlength="200"></label>
        <button type="submit">Filter</button>
      </form>
      <p class="error" role="alert">${this.error}</p>
      <p class="notice" role="status">${this.notice}</p>
      <p class="actions"><button id="redrive" @click=${() => void this.#redrive()} ?disabled=${this.selected.size === 0}>Re-drive selected (${this.selected.size})</button></p>
      <table class="data" id="dead-letters">
        <thead><tr>
          <th scope="col"><input type="checkbox" aria-label="Select all shown" .checked=${allOn} @change=${(e: Event) => { const on = (e.target as HTMLInputElement).checked; this.selected = on ? new Set(items.map((d) => d.id)) : new Set(); }}></th>
          <th scope="col">failed</th><th scope="col">app</th><th scope="col">channel</th><th scope="col">user</th><th scope="col">notification</th><th scope="col" class="num">attempts</th><th scope="col">last error</th>
        </tr></thead>
        <tbody>${items.map((d) => html`<tr data-delivery=${d.id}>
          <td><input type="checkbox" aria-label=${`Select delivery ${d.id}`} .checked=${this.selected.has(d.id)} @change=${(e: Event) => this.#toggle(d.id, (e.target as HTMLInputElement).checked)}></td>
          <td>${when(d.failedAt)}</td><td>${d.appId}</td><td data-step=${d.step}>${d.channel}/${d.provider}${d.step > 0 ? html`<div class="sub">fallback step ${d.step}</div>` : nothing}</td>
          <td>${d.userId ? html`<a href=${href('users', d.userId)}>${d.userId}</a>` : nothing}</td>
          <td><a href=${href('notifications', d.notificationId)}>${d.notificationId}</a></td>
          <td class="num">${d.attempts}</td>
          <td><span class="err">${d.lastError ?? ''}</span>${d.lastErrorDetail ? html`<div class="sub">${d.lastErrorDetail}</div>` : nothing}</td></tr>`)}</tbody>
      </table>
      ${this.items?.length === 0 && !this.next ? html`<p class="ok">No dead letters.</p>` : nothing}
      ${this.next ? html`<button @click=${() => void this.#load(true)}>${this.items?.length === 0 ? 'None among the newest; look further' : 'More'}</button>` : nothing}`;
  }
}
