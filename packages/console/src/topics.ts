import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { herald, unwrap } from './api.ts';
import { href } from './app.ts';
import { when } from './format.ts';
import { PagedList } from './paged.ts';

function topics(appId: string, cursor?: string) {
  return unwrap(herald.GET('/v1/topics', { params: { query: { appId, limit: 50, ...(cursor ? { cursor } : {}) } } }));
}

function subscribers(appId: string, key: string, cursor?: string) {
  return unwrap(herald.GET('/v1/topics/{key}/subscribers', { params: { path: { key }, query: { appId, limit: 50, ...(cursor ? { cursor } : {}) } } }));
}

/** Topics of an app with their subscriber counts (kept by the database, never counted here), a page at a time. */
export class HcTopics extends LitElement {
  static override properties = { apps: { state: true }, appId: { state: true } };
  declare apps: string[];
  declare appId: string;
  readonly #list = new PagedList(this, (cursor) => topics(this.appId, cursor));

  constructor() {
    super();
    this.apps = ['default'];
    this.appId = 'default';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    unwrap(herald.GET('/v1/apps')).then((l) => { this.apps = l.items.map((a) => a.id); }, () => undefined);
  }

  override render(): TemplateResult {
    const list = this.#list;
    return html`
      <h1>Topics</h1>
      <p><label>App <select @change=${(e: Event) => { this.appId = (e.target as HTMLSelectElement).value; void list.reload(); }}>
        ${this.apps.map((a) => html`<option value=${a} ?selected=${a === this.appId}>${a}</option>`)}</select></label></p>
      <p class="error" role="alert">${list.error}</p>
      <table class="data" id="topics">
        <thead><tr><th scope="col">key</th><th scope="col">name</th><th scope="col" class="num">subscribers</th><th scope="col">self-subscribe</th><th scope="col">updated</th></tr></thead>
        <tbody>${(list.items ?? []).map((t) => html`<tr data-topic=${t.key}>
          <td><a href=${href('topics', this.appId, t.key)}>${t.key}</a></td><td>${t.name ?? ''}</td>
          <td class="num">${t.subscribers}</td><td>${t.selfSubscribe ? 'yes' : 'no'}</td><td>${when(t.updatedAt)}</td></tr>`)}</tbody>
      </table>
      ${list.items?.length === 0 ? html`<p>No topics in this app yet (PUT /v1/topics/{key}, docs/audiences.md).</p>` : nothing}
      ${list.next ? html`<button @click=${() => void list.more()}>More</button>` : nothing}`;
  }
}

/** One topic: its subscribers, a page at a time, each linking to the user's page. */
export class HcTopic extends LitElement {
  static override properties = { appId: {}, key: {} };
  declare appId: string;
  declare key: string;
  readonly #list = new PagedList(this, (cursor) => subscribers(this.appId, this.key, cursor));

  constructor() {
    super();
    this.appId = 'default';
    this.key = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override render(): TemplateResult {
    const list = this.#list;
    return html`
      <h1>Topic ${this.key} <span class="sub">${this.appId}</span></h1>
      <p class="error" role="alert">${list.error}</p>
      <table class="data" id="subscribers">
        <thead><tr><th scope="col">user</th><th scope="col">subscribed</th></tr></thead>
        <tbody>${(list.items ?? []).map((s) => html`<tr><td><a href=${href('users', s.userId)}>${s.userId}</a></td><td>${when(s.subscribedAt)}</td></tr>`)}</tbody>
      </table>
      ${list.items?.length === 0 ? html`<p>Nobody is subscribed.</p>` : nothing}
      ${list.next ? html`<button @click=${() => void list.more()}>More</button>` : nothing}`;
  }
}
