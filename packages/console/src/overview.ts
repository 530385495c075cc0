import { LitElement, html, type TemplateResult } from 'lit';
import { herald, unwrap, describe, type Schemas } from './api.ts';
import { ms, seconds } from './format.ts';
import type { HcChart, ChartSeries } from './chart.ts';

type Stats = Awaited<ReturnType<typeof load>>;
const POLL_MS = 2_000;
const OUTCOME_COLOURS: Record<string, string> = { sent: '#2ca02c', failed: '#d62728', expired: '#ff7f0e' };

function load(minutes: number) {
  return unwrap(herald.GET('/v1/stats/deliveries', { params: { query: { minutes } } }));
}

/**
 * Overview: deliveries per minute by channel and outcome, lateness p50/p99, the due backlog and
 * failures by provider, polled every two seconds (GET /v1/stats/deliveries, backed by the
 * per-minute rollup).
 */
export class HcOverview extends LitElement {
  static override properties = { stats: { state: true }, error: { state: true }, minutes: { state: true } };
  declare stats: Stats | undefined;
  declare error: string;
  declare minutes: number;
  #timer: number | undefined;

  constructor() {
    super();
    this.error = '';
    this.minutes = 60;
  }

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.#poll();
  }

  override disconnectedCallback(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    super.disconnectedCallback();
  }

  async #poll(): Promise<void> {
    try {
      this.stats = await load(this.minutes);
      this.error = '';
    } catch (err) {
      this.error = describe(err);
    }
    if (this.isConnected) this.#timer = window.setTimeout(() => void this.#poll(), POLL_MS);
  }

  protected override updated(): void {
    const s = this.stats;
    if (!s) return;
    const start = Date.parse(s.from) / 1000;
    const x = Array.from({ length: Math.ceil(s.minutes / s.step) }, (_, i) => start + i * 60 * s.step);
    const index = new Map(x.map((t, i) => [t, i]));
    const at = (iso: string) => index.get(Date.parse(iso) / 1000);

    const perSeries = new Map<string, Array<number | null>>();
    for (const c of s.perMinute) {
      const key = `${c.channel} ${c.outcome}`;
      const values = perSeries.get(key) ?? x.map(() => 0);
      const i = at(c.minute);
      if (i !== undefined) values[i] = (values[i] ?? 0) + c.count;
      perSeries.set(key, values);
    }
    const series: ChartSeries[] = [...perSeries].sort(([a], [b]) => a.localeCompare(b)).map(([label, values]) => ({ label, values, colour: label.endsWith(' sent') ? undefined : OUTCOME_COLOURS[label.split(' ')[1]!] }));
    this.querySelector<HcChart>('#deliveries-chart')?.draw(x, series.length > 0 ? series : [{ label: 'no deliveries', values: x.map(() => 0) }]);

    const p50 = x.map(() => null as number | null);
    const p99 = x.map(() => null as number | null);
    for (const m of s.lateness.perMinute) {
      const i = at(m.minute);
      if (i === undefined) continue;
      p50[i] = m.p50Ms;
      p99[i] = m.p99Ms;
    }
    this.querySelector<HcChart>('#lateness-chart')?.draw(x, [{ label: 'p50', values: p50, colour: '#1f77b4' }, { label: 'p99', values: p99, colour: '#9467bd' }]);
  }

  override render(): TemplateResult {
    const s = this.stats;
    const totals = new Map<string, number>();
    for (const c of s?.perMinute ?? []) totals.set(`${c.channel}|${c.outcome}`, (totals.get(`${c.channel}|${c.outcome}`) ?? 0) + c.count);
    const sum = (outcome: string) => [...totals].filter(([k]) => k.endsWith(`|${outcome}`)).reduce((a, [, n]) => a + n, 0);
    return html`
      <h1>Overview</h1>
      <p class="sub">
        <label>Window
          <select @change=${(e: Event) => { this.minutes = Number((e.target as HTMLSelectElement).value); }}>
            ${[15, 60, 360, 1440].map((m) => html`<option value=${m} ?selected=${m === this.minutes}>${m < 120 ? `${m} minutes` : `${m / 60} hours`}</option>`)}
          </select>
        </label>
        <span class="live" aria-live="off">${s ? html`updated ${new Date(s.generatedAt).toLocaleTimeString()}` : 'loading…'}</span>
      </p>
      <p class="error" role="alert">${this.error}</p>
      <section class="tiles" aria-label="Now">
        <div class="tile" data-tile="sent"><span class="value">${sum('sent')}</span><span class="label">sent</span></div>
        <div class="tile" data-tile="failed"><span class="value">${sum('failed')}</span><span class="label">failed</span></div>
        <div class="tile" data-tile="due"><span class="value">${s?.backlog.due ?? '–'}</span><span class="label">due now</span></div>
        <div class="tile" data-tile="oldest"><span class="value">${s ? seconds(s.backlog.oldestDueSeconds) : '–'}</span><span class="label">oldest due</span></div>
        <div class="tile" data-tile="p50"><span class="value">${ms(s?.lateness.p50Ms)}</span><span class="label">lateness p50</span></div>
        <div class="tile" data-tile="p99"><span class="value">${ms(s?.lateness.p99Ms)}</span><span class="label">lateness p99</span></div>
      </section>
      <section class="charts">
        <hc-chart id="deliveries-chart" .chartTitle=${`Deliveries per ${s && s.step > 1 ? `${s.step} minutes` : 'minute'}, by channel and outcome`} .unit=${'deliveries'}></hc-chart>
        <hc-chart id="lateness-chart" .chartTitle=${`Lateness (due → sent), per ${s && s.step > 1 ? `${s.step} minutes` : 'minute'}`} .unit=${'ms'}></hc-chart>
      </section>
      <div class="columns">
        <section>
          <h2>By channel and outcome</h2>
          <table class="data" id="channel-totals">
            <thead><tr><th scope="col">channel</th><th scope="col">outcome</th><th scope="col" class="num">deliveries</th></tr></thead>
            <tbody>${[...totals].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => {
              const [channel, outcome] = k.split('|');
              return html`<tr data-channel=${channel!} data-outcome=${outcome!}><td>${channel}</td><td>${outcome}</td><td class="num">${n}</td></tr>`;
            })}</tbody>
          </table>
        </section>
        <section>
          <h2>Failures by provider</h2>
          <table class="data" id="providers">
            <thead><tr><th scope="col">provider</th><th scope="col" class="num">sent</th><th scope="col" class="num">failed</th><th scope="col" class="num">expired</th></tr></thead>
            <tbody>${(s?.byProvider ?? []).map((p) => html`<tr data-provider=${p.provider}><td>${p.provider}</td><td class="num">${p.sent}</td><td class="num">${p.failed}</td><td class="num">${p.expired}</td></tr>`)}</tbody>
          </table>
        </section>
      </div>`;
  }
}
