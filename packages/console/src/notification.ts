import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { herald, unwrap, describe } from './api.ts';
import { href } from './app.ts';
import { json, status, when } from './format.ts';

/** One notification: its fallback steps, every delivery's step, status, attempts and errors, its history (events); cancel, retry failed. */
export class HcNotification extends LitElement {
  static override properties = { notificationId: { type: String }, data: { state: true }, error: { state: true }, notice: { state: true } };
  declare notificationId: string;
  declare data: Awaited<ReturnType<HcNotification['load']>> | undefined;
  declare error: string;
  declare notice: string;

  constructor() {
    super();
    this.notificationId = '';
    this.error = '';
    this.notice = '';
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  protected override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('notificationId') && this.notificationId !== '') void this.#reload();
  }

  async load() {
    const path = { notificationId: this.notificationId };
    const [notification, events] = await Promise.all([
      unwrap(herald.GET('/v1/notifications/{notificationId}', { params: { path } })),
      unwrap(herald.GET('/v1/notifications/{notificationId}/events', { params: { path } })),
    ]);
    return { notification, events };
  }

  async #reload(): Promise<void> {
    try {
      this.data = await this.load();
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
  }

  async #act(what: 'cancel' | 'retry'): Promise<void> {
    const path = { notificationId: this.notificationId };
    try {
      if (what === 'cancel') {
        await unwrap(herald.DELETE('/v1/notifications/{notificationId}', { params: { path } }));
        this.notice = 'Cancelled.';
      } else {
        const r = await unwrap(herald.POST('/v1/notifications/{notificationId}/retry', { params: { path, query: { includeExpired: false } } }));
        this.notice = `Re-driven ${r.redriven} failed ${r.redriven === 1 ? 'delivery' : 'deliveries'}.`;
      }
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
    await this.#reload();
  }

  override render(): TemplateResult {
    const n = this.data?.notification;
    const deliveries = n?.deliveries ?? [];
    const pending = deliveries.some((d) => d.status === 'pending');
    const failed = deliveries.some((d) => d.status === 'failed');
    return html`
      <h1>Notification <code>${this.notificationId}</code></h1>
      <p class="error" role="alert">${this.error}</p>
      <p class="notice" role="status">${this.notice}</p>
      ${n === undefined ? (this.error ? nothing : html`<p>Loading…</p>`) : html`
        <dl class="facts">
          <dt>status</dt><dd>${status(n.status)}</dd>
          <dt>title</dt><dd>${n.title ?? '–'}</dd>
          <dt>app</dt><dd>${n.appId ?? '–'}</dd>
          <dt>send at</dt><dd>${when(n.sendAt)}</dd>
          <dt>recipients</dt><dd>${n.userIds.map((u) => html`<a href=${href('users', u)}>${u}</a> `)}</dd>
          <dt>channels</dt><dd>${n.channels.join(', ')}</dd>
          ${n.template ? html`<dt>template</dt><dd>${n.template.key} v${n.template.version}</dd>` : nothing}
          ${n.steps ? html`<dt>steps</dt><dd><ul class="plain" id="steps">${n.steps.map((s, i) => html`<li data-step=${i}>${i}: ${s.channels.join(', ')}${s.after ? ` after ${s.after}` : ''}${s.unless ? ` unless ${s.unless}` : ''} ${status(s.status)}</li>`)}</ul></dd>` : nothing}
        </dl>
        <p class="actions">
          <button @click=${() => void this.#act('cancel')} ?disabled=${!pending || n.cancelledAt !== undefined}>Cancel</button>
          <button @click=${() => void this.#act('retry')} ?disabled=${!failed}>Retry failed</button>
          <button class="link" @click=${() => void this.#reload()}>Refresh</button>
        </p>
        <h2>Deliveries</h2>
        <table class="data" id="deliveries">
          <thead><tr><th scope="col">id</th><th scope="col">channel</th><th scope="col" class="num" title="fallback step: 0 is the first (and the only one without steps)">step</th><th scope="col">user / device</th><th scope="col">status</th><th scope="col" class="num">attempts</th><th scope="col">due</th><th scope="col">deferred by</th><th scope="col">sent</th><th scope="col">last error</th></tr></thead>
          <tbody>${deliveries.map((d) => html`<tr data-delivery=${d.id} data-status=${d.status}>
            <td><code>${d.id}</code></td><td>${d.channel}/${d.provider}</td><td class="num" data-step=${d.step}>${d.step}${n.steps?.[d.step]?.after ? html`<div class="sub">after ${n.steps[d.step]!.after}</div>` : nothing}</td><td>${d.userId ?? ''} ${d.deviceId ? html`<code>${d.deviceId}</code>` : nothing}</td>
            <td>${status(d.status)}</td><td class="num">${d.attempts}</td><td>${when(d.dueAt)}</td><td>${d.deferredBy ?? ''}</td><td>${when(d.sentAt)}</td>
            <td>${d.lastError ? html`<span class="err">${d.lastError}</span>` : nothing}${d.lastErrorDetail ? html`<div class="sub">${d.lastErrorDetail}</div>` : nothing}</td></tr>`)}</tbody>
        </table>
        <h2>History</h2>
        <table class="data" id="history">
          <thead><tr><th scope="col">when</th><th scope="col">event</th><th scope="col">user</th><th scope="col">data</th></tr></thead>
          <tbody>${(this.data?.events.items ?? []).map((e) => html`<tr><td>${when(e.createdAt)}</td><td>${e.type}</td><td>${e.userId ?? ''}</td><td><code>${JSON.stringify(e.data)}</code></td></tr>`)}</tbody>
        </table>
        <details><summary>As JSON</summary><pre>${json(n)}</pre></details>`}`;
  }
}
