import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { herald, unwrap, describe } from './api.ts';
import { href } from './app.ts';
import { json, status, when } from './format.ts';
import { PagedList } from './paged.ts';

function search(query: string, cursor?: string) {
  return unwrap(herald.GET('/v1/users', { params: { query: { query, limit: 50, ...(cursor ? { cursor } : {}) } } }));
}

/** Users: find a user by the start of their id or e-mail address. */
export class HcUsers extends LitElement {
  #query = '';
  readonly #list = new PagedList(this, (cursor) => search(this.#query, cursor));

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override render(): TemplateResult {
    const list = this.#list;
    return html`
      <h1>Users</h1>
      <form role="search" @submit=${(e: SubmitEvent) => { e.preventDefault(); this.#query = ((e.target as HTMLFormElement).elements.namedItem('q') as HTMLInputElement).value; void list.reload(); }}>
        <label for="q">User id or e-mail (the start of either)</label>
        <input id="q" name="q" type="search" autocomplete="off">
        <button type="submit">Search</button>
      </form>
      <p class="error" role="alert">${list.error}</p>
      <table class="data" id="user-hits">
        <thead><tr><th scope="col">id</th><th scope="col">e-mail</th><th scope="col">name</th><th scope="col">created</th></tr></thead>
        <tbody>${(list.items ?? []).map((u) => html`<tr><td><a href=${href('users', u.id)}>${u.id}</a></td><td>${u.email ?? ''}</td><td>${u.name ?? ''}</td><td>${when(u.createdAt)}</td></tr>`)}</tbody>
      </table>
      ${list.items?.length === 0 ? html`<p>No user matches.</p>` : nothing}
      ${list.next ? html`<button @click=${() => void list.more()}>More</button>` : nothing}`;
  }
}

/**
 * One user: profile and preferences, devices (with why a provider invalidated one),
 * notifications with each delivery's attempts and last error, inbox, events.
 */
export class HcUser extends LitElement {
  static override properties = { userId: { type: String }, data: { state: true }, error: { state: true } };
  declare userId: string;
  declare data: Awaited<ReturnType<HcUser['load']>> | undefined;
  declare error: string;

  constructor() {
    super();
    this.userId = '';
    this.error = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  protected override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('userId') && this.userId !== '') {
      this.data = undefined;
      this.load().then((d) => { this.data = d; this.error = ''; }, (err: unknown) => { this.error = describe(err); });
    }
  }

  async load() {
    const path = { userId: this.userId };
    const [user, devices, notifications, inbox, events] = await Promise.all([
      unwrap(herald.GET('/v1/users/{userId}', { params: { path } })),
      unwrap(herald.GET('/v1/users/{userId}/devices', { params: { path } })),
      unwrap(herald.GET('/v1/users/{userId}/notifications', { params: { path, query: { limit: 25, offset: 0 } } })),
      unwrap(herald.GET('/v1/users/{userId}/inbox', { params: { path, query: { limit: 25 } } })),
      unwrap(herald.GET('/v1/users/{userId}/events', { params: { path, query: { limit: 100 } } })),
    ]);
    return { user, devices, notifications, inbox, events };
  }

  override render(): TemplateResult {
    const d = this.data;
    return html`
      <p><a href=${href('users')}>← Users</a></p>
      <h1>User <code>${this.userId}</code></h1>
      <p class="error" role="alert">${this.error}</p>
      ${d === undefined ? (this.error ? nothing : html`<p>Loading…</p>`) : html`
        <section>
          <h2>Profile and preferences</h2>
          <dl class="facts">
            <dt>e-mail</dt><dd>${d.user.email ?? '–'}</dd>
            <dt>name</dt><dd>${d.user.name ?? '–'}</dd>
            <dt>time zone</dt><dd>${d.user.timezone ?? '–'}</dd>
            <dt>locale</dt><dd>${d.user.locale ?? '–'}</dd>
          </dl>
          <pre id="preferences">${json(d.user.preferences ?? {})}</pre>
        </section>
        <section>
          <h2>Devices (${d.devices.items.length})</h2>
          <table class="data" id="devices">
            <thead><tr><th scope="col">id</th><th scope="col">platform</th><th scope="col">app</th><th scope="col">name</th><th scope="col">status</th><th scope="col">why invalid</th><th scope="col">registered</th></tr></thead>
            <tbody>${d.devices.items.map((v) => html`<tr data-device=${v.id}>
              <td><code>${v.id}</code></td><td>${v.platform}</td><td>${v.appId ?? ''}</td><td>${v.name ?? ''}</td><td>${status(v.status)}</td>
              <td>${v.invalidReason ?? ''} ${v.invalidatedAt ? html`<span class="sub">(${when(v.invalidatedAt)})</span>` : nothing}</td><td>${when(v.createdAt)}</td></tr>`)}</tbody>
          </table>
        </section>
        <section>
          <h2>Notifications (${d.notifications.total})</h2>
          <table class="data" id="notifications">
            <thead><tr><th scope="col">notification</th><th scope="col">status</th><th scope="col">send at</th><th scope="col">deliveries: channel (fallback step), status, attempts, last error</th></tr></thead>
            <tbody>${d.notifications.items.map((n) => html`<tr data-notification=${n.id}>
              <td><a href=${href('notifications', n.id)}>${n.title ?? n.id}</a></td><td>${status(n.status)}</td><td>${when(n.sendAt)}</td>
              <td><ul class="plain">${(n.deliveries ?? []).map((x) => html`<li data-step=${x.step}>${x.channel}/${x.provider}${n.steps ? ` · step ${x.step}` : ''} ${status(x.status)} × ${x.attempts}${x.lastError ? html` — <span class="err">${x.lastError}</span>` : nothing}</li>`)}</ul></td></tr>`)}</tbody>
          </table>
        </section>
        <section>
          <h2>Inbox (${d.inbox.unread} unread of ${d.inbox.total})</h2>
          <table class="data" id="inbox">
            <thead><tr><th scope="col">title</th><th scope="col">body</th><th scope="col">received</th><th scope="col">read</th></tr></thead>
            <tbody>${d.inbox.items.map((i) => html`<tr><td>${i.title ?? ''}</td><td>${i.body ?? ''}</td><td>${when(i.createdAt)}</td><td>${i.readAt ? when(i.readAt) : 'unread'}</td></tr>`)}</tbody>
          </table>
        </section>
        <section>
          <h2>Events</h2>
          <table class="data" id="events">
            <thead><tr><th scope="col">when</th><th scope="col">type</th><th scope="col">item</th><th scope="col">data</th></tr></thead>
            <tbody>${d.events.items.map((e) => html`<tr><td>${when(e.createdAt)}</td><td>${e.type}</td><td>${e.itemType} ${e.itemType === 'notification' ? html`<a href=${href('notifications', e.itemId)}>${e.itemId}</a>` : html`<code>${e.itemId}</code>`}</td><td><code>${JSON.stringify(e.data)}</code></td></tr>`)}</tbody>
          </table>
        </section>`}`;
  }
}
