import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { herald, unwrap, describe, HeraldApiError } from './api.ts';
import { href } from './app.ts';
import { json, when } from './format.ts';

type TemplateList = Awaited<ReturnType<typeof list>>;

function list(appId: string) {
  return unwrap(herald.GET('/v1/apps/{appId}/templates', { params: { path: { appId } } }));
}

/** Templates of an app: list, open one to edit and preview, or start a new one. */
export class HcTemplates extends LitElement {
  static override properties = { apps: { state: true }, appId: { state: true }, items: { state: true }, error: { state: true } };
  declare apps: string[];
  declare appId: string;
  declare items: TemplateList['items'] | undefined;
  declare error: string;

  constructor() {
    super();
    this.apps = ['default'];
    this.appId = 'default';
    this.error = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    unwrap(herald.GET('/v1/apps')).then((l) => { this.apps = l.items.map((a) => a.id); }, () => undefined);
    void this.#load();
  }

  async #load(): Promise<void> {
    try {
      this.items = (await list(this.appId)).items;
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
  }

  override render(): TemplateResult {
    return html`
      <h1>Templates</h1>
      <p><label>App <select @change=${(e: Event) => { this.appId = (e.target as HTMLSelectElement).value; void this.#load(); }}>
        ${this.apps.map((a) => html`<option value=${a} ?selected=${a === this.appId}>${a}</option>`)}</select></label></p>
      <p class="error" role="alert">${this.error}</p>
      <table class="data" id="templates">
        <thead><tr><th scope="col">key</th><th scope="col" class="num">version</th><th scope="col">locales</th><th scope="col">channels</th><th scope="col">updated</th></tr></thead>
        <tbody>${(this.items ?? []).map((t) => html`<tr data-template=${t.key}>
          <td><a href=${href('templates', this.appId, t.key)}>${t.key}</a>${t.builtIn ? html` <span class="sub">built in</span>` : nothing}</td>
          <td class="num">${t.version}</td><td>${t.locales.join(', ')}</td><td>${t.channels.join(', ')}</td><td>${when(t.updatedAt)}</td></tr>`)}</tbody>
      </table>
      <form class="filters" @submit=${(e: SubmitEvent) => { e.preventDefault(); const key = ((e.target as HTMLFormElement).elements.namedItem('key') as HTMLInputElement).value.trim(); if (key) location.hash = href('templates', this.appId, key); }}>
        <label>New template key <input name="key" pattern="[a-z0-9][a-z0-9._-]*" required></label>
        <button type="submit">Create</button>
      </form>`;
  }
}

const EXAMPLE = { description: '', variables: { name: { type: 'string', required: true } }, defaultLocale: 'en', locales: { en: { push: { title: 'Hello {name}', body: '' }, inbox: { title: 'Hello {name}' } } } };

/** One template: its definition as JSON (saving makes a new version) and a preview with sample data. */
export class HcTemplate extends LitElement {
  static override properties = { appId: { type: String }, key: { type: String }, source: { state: true }, version: { state: true }, preview: { state: true }, error: { state: true }, notice: { state: true } };
  declare appId: string;
  declare key: string;
  declare source: string;
  declare version: number | undefined;
  declare preview: string;
  declare error: string;
  declare notice: string;

  constructor() {
    super();
    this.appId = '';
    this.key = '';
    this.source = '';
    this.preview = '';
    this.error = '';
    this.notice = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  protected override willUpdate(changed: Map<string, unknown>): void {
    if ((changed.has('appId') || changed.has('key')) && this.appId && this.key) void this.#load();
  }

  async #load(): Promise<void> {
    try {
      const t = await unwrap(herald.GET('/v1/apps/{appId}/templates/{key}', { params: { path: { appId: this.appId, key: this.key } } }));
      this.version = t.version;
      this.source = json({ ...(t.description ? { description: t.description } : {}), variables: t.variables, defaultLocale: t.defaultLocale, locales: t.locales });
      this.error = '';
    } catch (err) {
      if (err instanceof HeraldApiError && err.status === 404) {
        this.version = undefined;
        this.source = json(EXAMPLE);
        this.notice = 'A new template: edit the definition and save it.';
      } else {
        this.error = describe(err);
      }
    }
  }

  #definition(): Record<string, unknown> | undefined {
    const text = (this.querySelector('#definition') as HTMLTextAreaElement).value;
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      this.error = `The definition is not JSON: ${describe(err)}`;
      return undefined;
    }
  }

  async #save(): Promise<void> {
    const body = this.#definition();
    if (!body) return;
    try {
      const saved = await unwrap(herald.PUT('/v1/apps/{appId}/templates/{key}', { params: { path: { appId: this.appId, key: this.key } }, body: body as never }));
      this.version = saved.version;
      this.notice = `Saved as version ${saved.version}.`;
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
  }

  async #preview(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const f = (e.target as HTMLFormElement).elements;
    const value = (name: string) => (f.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement).value.trim();
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(value('data') || '{}') as Record<string, unknown>;
    } catch (err) {
      this.error = `The sample data is not JSON: ${describe(err)}`;
      return;
    }
    const channel = value('channel') as 'push' | 'email' | 'inbox' | 'webhook' | '';
    try {
      const r = await unwrap(herald.POST('/v1/apps/{appId}/templates/{key}/render', {
        params: { path: { appId: this.appId, key: this.key } },
        body: { data, ...(value('locale') ? { locale: value('locale') } : {}), ...(channel ? { channel } : {}) },
      }));
      this.preview = json(r.rendered);
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
  }

  override render(): TemplateResult {
    return html`
      <p><a href=${href('templates')}>← Templates</a></p>
      <h1>Template <code>${this.key}</code> <span class="sub">app ${this.appId}${this.version !== undefined ? html`, version ${this.version}` : nothing}</span></h1>
      <p class="error" role="alert">${this.error}</p>
      <p class="notice" role="status">${this.notice}</p>
      <div class="columns">
        <section>
          <h2>Definition</h2>
          <label for="definition">variables, defaultLocale and locales (ICU MessageFormat), as JSON</label>
          <textarea id="definition" rows="22" spellcheck="false" .value=${this.source}></textarea>
          <p class="actions"><button @click=${() => void this.#save()}>Save new version</button></p>
        </section>
        <section>
          <h2>Preview</h2>
          <form @submit=${(e: SubmitEvent) => void this.#preview(e)}>
            <label>Locale <input name="locale" placeholder="default"></label>
            <label>Channel <select name="channel"><option value="">all</option>${['push', 'email', 'inbox', 'webhook'].map((c) => html`<option value=${c}>${c}</option>`)}</select></label>
            <label for="data">Sample data (JSON)</label>
            <textarea id="data" name="data" rows="6" spellcheck="false">{}</textarea>
            <button type="submit">Preview</button>
          </form>
          <pre id="preview" aria-live="polite">${this.preview}</pre>
        </section>
      </div>`;
  }
}
