import uPlot from 'uplot';

/** Colours for series, distinguishable and readable on white (a fixed order: the same series keeps its colour). */
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export interface ChartSeries {
  readonly label: string;
  readonly values: ReadonlyArray<number | null>;
  readonly colour?: string;
}

/**
 * `<hc-chart>`: a uPlot time-series chart. Set `chartTitle`, `unit`, `x` (seconds since the epoch)
 * and `series`; a new set of series labels builds a new plot, new values only update it.
 */
export class HcChart extends HTMLElement {
  chartTitle = '';
  unit = '';
  #plot: uPlot | undefined;
  #labels = '';
  #resize = new ResizeObserver(() => this.#plot?.setSize(this.#size()));

  connectedCallback(): void {
    this.#resize.observe(this);
  }

  disconnectedCallback(): void {
    this.#resize.disconnect();
    this.#plot?.destroy();
    this.#plot = undefined;
    this.#labels = '';
  }

  #size(): { width: number; height: number } {
    return { width: Math.max(300, this.clientWidth), height: 220 };
  }

  draw(x: readonly number[], series: readonly ChartSeries[]): void {
    const data = [x, ...series.map((s) => s.values)] as unknown as uPlot.AlignedData;
    const labels = [this.chartTitle, ...series.map((s) => s.label)].join('\u0000');
    if (this.#plot && labels === this.#labels) {
      this.#plot.setData(data);
      return;
    }
    this.#plot?.destroy();
    this.#labels = labels;
    const unit = this.unit;
    this.#plot = new uPlot({
      ...this.#size(),
      title: this.chartTitle,
      series: [
        {},
        ...series.map((s, i) => ({ label: s.label, stroke: s.colour ?? PALETTE[i % PALETTE.length]!, width: 2, points: { show: true, size: 6 }, spanGaps: false })),
      ],
      axes: [{}, { label: unit, size: 60 }],
      scales: { y: { range: (_u, min, max) => [0, Math.max(1, max ?? min ?? 1) * 1.1] } },
      legend: { live: true },
    }, data, this);
  }
}
