import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { herald, unwrap, describe } from './api.ts';
import { json, when } from './format.ts';

const CHANNELS = ['apns', 'fcm', 'webpush', 'email', 'webhook'] as const;
type AppList = Awaited<ReturnType<typeof load>>;

function load() {
  return unwrap(herald.GET('/v1/apps'));
}

/** Apps: which channels have credentials, what providers reported wrong with them, the VAPID public key. */
export class HcApps extends LitElement {
  static override properties = { apps: { state: true }, error: { state: true } };
  declare apps: AppList['items'] | undefined;
  declare error: string;

  constructor() {
    super();
    this.error = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    load().then((list) => { this.apps = list.items; }, (err: unknown) => { this.error = describe(err); });
  }

  override render(): TemplateResult {
    return html`
      <h1>Apps</h1>
      <p class="error" role="alert">${this.error}</p>
      ${this.apps === undefined ? html`<p>Loading…</p>` : this.apps.map((app) => this.#app(app))}`;
  }

  #app(app: AppList['items'][number]): TemplateResult {
    const problems = Object.entries(app.status);
    return html`
      <section class="card" data-app=${app.id}>
        <h2>${app.name} <code>${app.id}</code></h2>
        <p class="sub">default locale ${app.defaultLocale}${app.updatedAt ? html` · updated ${when(app.updatedAt)}` : nothing}</p>
        ${problems.length > 0
          ? html`<ul class="problems" aria-label="Current problems">${problems.map(([channel, p]) => html`<li><strong>${channel}</strong>: ${p.problem} <span class="sub">(${when(p.at)})</span></li>`)}</ul>`
          : html`<p class="ok">No problems reported.</p>`}
        <table class="data">
          <thead><tr><th scope="col">channel</th><th scope="col">credentials</th><th scope="col">settings</th><th scope="col">problem</th></tr></thead>
          <tbody>${CHANNELS.map((c) => {
            const settings = app.channels[c];
            const problem = app.status[c];
            return html`<tr data-channel=${c}>
              <td>${c}</td>
              <td>${settings ? html`<span class="status status-sent">configured</span>` : html`<span class="status status-cancelled">none</span>`}</td>
              <td>${settings ? html`<pre>${json(settings)}</pre>` : nothing}</td>
              <td>${problem ? html`<span class="status status-failed">${problem.problem}</span>` : nothing}</td>
            </tr>`;
          })}</tbody>
        </table>
        <p>VAPID public key: ${app.vapidPublicKey ? html`<code class="key" data-vapid>${app.vapidPublicKey}</code>` : html`<em>none</em>`}</p>
      </section>`;
  }
}
