// The trend chart: posts per minute over the last hour, for one hashtag or
// all, drawn as SVG bars. The history comes from `trend`; the current
// minute from `trendUpdated`, which the server sends each time its count
// changes and when a new minute begins.

import { graphql } from "./graphql.js";
import { hourMinute, showError, svg } from "./dom.js";

const MINUTE_MS = 60_000;
const BUCKETS = 60;
const HISTORY = `query History($hashtag: String, $from: DateTime!, $to: DateTime!) {
  trend(hashtag: $hashtag, fromDate: $from, toDate: $to, aggregation: "1m") { fromDate count }
}`;
const CURRENT = `subscription Current($hashtag: String) {
  trendUpdated(hashtag: $hashtag, aggregation: "1m") { fromDate count }
}`;

// The drawing's coordinates are the box's pixels (its width measured at
// each drawing), so text keeps its size in a narrow window.
const MIN_WIDTH = 280;
const HEIGHT = 220;
const LEFT = 34;
const RIGHT = 8;
const TOP = 12;
const BOTTOM = 24;

export class Chart {
  constructor(socket) {
    this.socket = socket;
    this.box = document.getElementById("chart");
    this.scope = document.getElementById("chart-scope");
    this.currentCount = document.getElementById("current-count");
    this.hourCount = document.getElementById("hour-count");
    this.error = document.getElementById("chart-error");
    this.counts = new Map(); // bucket start (ms) -> count
    this.current = null; // the server's current bucket start (ms)
    this.subscription = null;
    this.generation = 0;
    // The window moves on with the clock even when nothing is posted.
    setInterval(() => this.render(), 15_000);
    new ResizeObserver(() => this.render()).observe(this.box);
  }

  /// Follows `tag` (or all, for null).
  async show(tag) {
    const generation = ++this.generation;
    this.subscription?.stop();
    this.counts.clear();
    this.current = null;
    this.scope.textContent = tag ? `#${tag}` : "all hashtags";
    this.render();
    // Subscribed first: an update that lands before the history is kept,
    // and the history never overwrites the current bucket it reported.
    this.subscription = this.socket.subscribe(CURRENT, () => ({ hashtag: tag }), {
      next: (data) => this.update(data.trendUpdated),
      error: (errors) => {
        if (generation !== this.generation) return;
        if (errors.length) showError(this.error, `The live trend stopped: ${errors[0].message}`);
        setTimeout(() => generation === this.generation && this.subscription?.restart(), 1_000);
      },
    });
    const now = Date.now();
    const from = Math.floor(now / MINUTE_MS) * MINUTE_MS - (BUCKETS - 1) * MINUTE_MS;
    try {
      const { data } = await graphql(HISTORY, {
        hashtag: tag,
        from: new Date(from).toISOString(),
        // A little past this minute, in case the server's clock is ahead.
        to: new Date(now + 2 * MINUTE_MS).toISOString(),
      });
      if (generation !== this.generation) return;
      for (const bucket of data.trend) {
        const start = Date.parse(bucket.fromDate);
        if (start !== this.current) this.counts.set(start, bucket.count);
      }
      showError(this.error, "");
    } catch (error) {
      if (generation !== this.generation) return;
      showError(this.error, `Cannot load the trend: ${error.message}`);
    }
    this.render();
  }

  update(bucket) {
    const start = Date.parse(bucket.fromDate);
    this.counts.set(start, bucket.count);
    this.current = Math.max(this.current ?? start, start);
    this.render();
  }

  /// The BUCKETS minutes ending with the current one.
  window() {
    const clock = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const last = Math.max(clock, this.current ?? clock);
    return Array.from({ length: BUCKETS }, (_, i) => {
      const start = last - (BUCKETS - 1 - i) * MINUTE_MS;
      return { start, count: this.counts.get(start) ?? 0 };
    });
  }

  render() {
    const buckets = this.window();
    const last = buckets[buckets.length - 1];
    this.currentCount.textContent = String(last.count);
    this.hourCount.textContent = String(buckets.reduce((sum, bucket) => sum + bucket.count, 0));
    const peak = Math.max(1, ...buckets.map((bucket) => bucket.count));
    const scale = niceCeiling(peak);
    const width = Math.max(MIN_WIDTH, Math.floor(this.box.clientWidth));
    const plotWidth = width - LEFT - RIGHT;
    const plotHeight = HEIGHT - TOP - BOTTOM;
    const step = plotWidth / BUCKETS;
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${HEIGHT}`,
      class: "chart-svg",
      "aria-hidden": "true",
    });
    for (const fraction of [0, 0.5, 1]) {
      const y = TOP + plotHeight * (1 - fraction);
      chart.append(svg("line", { x1: LEFT, x2: width - RIGHT, y1: y, y2: y, class: "grid" }));
      chart.append(svg("text", { x: LEFT - 6, y: y + 4, class: "axis y" }, String(Math.round(scale * fraction))));
    }
    buckets.forEach((bucket, i) => {
      const height = (bucket.count / scale) * plotHeight;
      const x = LEFT + i * step;
      const current = i === buckets.length - 1;
      const bar = svg(
        "rect",
        {
          x: x + step * 0.12,
          y: TOP + plotHeight - height,
          width: step * 0.76,
          height: Math.max(height, bucket.count > 0 ? 1.5 : 0),
          rx: 1.5,
          class: current ? "bar current" : "bar",
          "data-start": new Date(bucket.start).toISOString(),
          "data-count": bucket.count,
        },
        svg("title", {}, `${hourMinute(new Date(bucket.start))}: ${bucket.count}`),
      );
      chart.append(bar);
      // Every quarter of an hour, counted back from now: short labels that
      // fit a narrow window (each bar's title has its clock time).
      const ago = BUCKETS - 1 - i;
      if (ago % 15 === 0) {
        const anchor = ago === 0 ? "end" : "middle";
        const at = ago === 0 ? x + step : x + step / 2;
        const label = ago === 0 ? "now" : `−${ago} min`;
        chart.append(svg("text", { x: at, y: HEIGHT - 6, class: `axis x ${anchor}` }, label));
      }
    });
    this.box.replaceChildren(chart);
  }
}

/// A round top for the axis: 1, 2, 5, 10, 20, 50...
function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const factor of [1, 2, 5, 10]) if (value <= factor * power) return factor * power;
  return 10 * power;
}
