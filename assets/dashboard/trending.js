// The trending hashtags of the last hour, each a button that filters the
// page by it. Read again a moment after messages arrive (at most every few
// seconds) and once a minute besides, as the hour slides on.

import { graphql } from "./graphql.js";
import { el, showError } from "./dom.js";

const TRENDING = `query Trending { trendingHashtags(window: "1h", first: 12) { hashtag count } }`;
const SETTLE_MS = 1_500;
const EVERY_MS = 60_000;

export class Trending {
  /// `onTag(tag)` when one is clicked.
  constructor(onTag) {
    this.onTag = onTag;
    this.list = document.getElementById("trending");
    this.empty = document.getElementById("trending-empty");
    this.error = document.getElementById("trending-error");
    this.selected = null;
    this.pending = null;
    this.tags = [];
    setInterval(() => this.refresh(), EVERY_MS);
  }

  /// Reads the list again soon, once for however many calls come meanwhile.
  soon() {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.refresh();
    }, SETTLE_MS);
  }

  async refresh() {
    try {
      const { data } = await graphql(TRENDING);
      this.tags = data.trendingHashtags;
      showError(this.error, "");
    } catch (error) {
      showError(this.error, `Cannot load the trending hashtags: ${error.message}`);
    }
    this.render();
  }

  /// Marks `tag` (or none) as the filter in force.
  select(tag) {
    this.selected = tag;
    this.render();
  }

  render() {
    const peak = Math.max(1, ...this.tags.map((tag) => tag.count));
    const items = this.tags.map(({ hashtag, count }) => {
      const selected = this.selected !== null && hashtag.toLowerCase() === this.selected.toLowerCase();
      const button = el(
        "button",
        { type: "button", class: selected ? "trend selected" : "trend", "aria-pressed": String(selected), "data-tag": hashtag },
        el("span", { class: "trend-name" }, `#${hashtag}`),
        el("span", { class: "trend-count" }, String(count)),
        // The bar's length is a meter's value, so no style is set inline.
        el("meter", { class: "trend-meter", min: 0, max: peak, value: count }),
      );
      button.addEventListener("click", () => this.onTag(selected ? null : hashtag));
      return el("li", {}, button);
    });
    this.list.replaceChildren(...items);
    this.empty.hidden = items.length > 0;
  }
}
