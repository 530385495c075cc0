import { html, nothing, type TemplateResult } from 'lit';

/** A timestamp in the operator's locale, with the ISO form as a tooltip. */
export function when(iso: string | null | undefined): TemplateResult | typeof nothing {
  if (!iso) return nothing;
  const d = new Date(iso);
  return html`<time datetime=${iso} title=${iso}>${d.toLocaleString()}</time>`;
}

export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return value >= 1000 ? `≤ ${(value / 1000).toLocaleString()} s` : `≤ ${value} ms`;
}

export function seconds(value: number): string {
  if (value < 1) return '0 s';
  if (value < 120) return `${Math.round(value)} s`;
  if (value < 7200) return `${Math.round(value / 60)} min`;
  return `${Math.round(value / 3600)} h`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** A status word as a badge the stylesheet colours. */
export function status(word: string | undefined): TemplateResult {
  return html`<span class="status status-${word ?? 'unknown'}">${word ?? '–'}</span>`;
}
