// The latest messages: a page read with `messages`, then `messagePosted`
// from just after the newest one shown, so nothing posted in between is
// missed. Messages are kept by id, so a replay after a reconnect shows none
// twice.

import { graphql } from "./graphql.js";
import { el, plainId, showError, ulidAt, when } from "./dom.js";

const SHOWN = 50;
const FIELDS = "id text hashtags createdAt user { name }";
const PAGE = `query Latest($filter: MessageFilter) {
  messages(first: 30, filter: $filter) { edges { node { ${FIELDS} } } }
}`;
const POSTED = `subscription Posted($filter: MessageFilter, $after: String) {
  messagePosted(filter: $filter, after: $after) { ${FIELDS} }
}`;
// How far before the server's clock a feed over an empty list starts, so
// that a message committed while the page was read is replayed.
const EMPTY_START_MARGIN_MS = 5_000;

export class Feed {
  /// `onTag(tag)` is called when a hashtag in a message is clicked;
  /// `onArrival()` when a new message arrives live.
  constructor(socket, { onTag, onArrival }) {
    this.socket = socket;
    this.onTag = onTag;
    this.onArrival = onArrival;
    this.list = document.getElementById("feed");
    this.empty = document.getElementById("feed-empty");
    this.error = document.getElementById("feed-error");
    this.scope = document.getElementById("feed-scope");
    this.messages = new Map(); // plain id -> message
    this.after = null; // where the subscription resumes
    this.subscription = null;
    this.generation = 0;
  }

  /// Shows the latest messages with `tag` (or all, for null), then follows.
  async show(tag) {
    const generation = ++this.generation;
    this.subscription?.stop();
    this.subscription = null;
    this.messages.clear();
    this.after = null;
    this.scope.textContent = tag ? `#${tag}` : "";
    const filter = tag ? { hashtag: tag } : null;
    let page;
    try {
      page = await graphql(PAGE, { filter });
    } catch (error) {
      if (generation !== this.generation) return;
      showError(this.error, `Cannot load the messages: ${error.message}`);
      this.render();
      // Followed all the same: the live feed may still work.
      page = { data: { messages: { edges: [] } }, serverTime: Date.now() };
    }
    if (generation !== this.generation) return;
    showError(this.error, "");
    for (const { node } of page.data.messages.edges) this.messages.set(plainId(node.id), node);
    const newest = this.newestId();
    this.after = newest ?? ulidAt((page.serverTime ?? Date.now()) - EMPTY_START_MARGIN_MS);
    this.render();
    this.subscription = this.socket.subscribe(POSTED, () => ({ filter, after: this.newestId() ?? this.after }), {
      next: (data) => this.arrived(data.messagePosted),
      error: (errors) => this.ended(errors, tag, generation),
    });
  }

  newestId() {
    let newest = null;
    for (const id of this.messages.keys()) if (newest === null || id > newest) newest = id;
    return newest;
  }

  arrived(message) {
    const id = plainId(message.id);
    if (this.messages.has(id)) return;
    this.messages.set(id, message);
    this.render(id);
    this.onArrival(message);
  }

  /// The server ended the feed: fell behind (`LAGGED`), too much to
  /// replay, or shutting down. Resumed after the newest message shown, or
  /// read afresh when the gap is too large to replay.
  ended(errors, tag, generation) {
    if (generation !== this.generation) return;
    const code = errors[0]?.extensions?.code;
    if (code === "REPLAY_LIMIT") {
      this.show(tag);
      return;
    }
    if (code && code !== "LAGGED") {
      showError(this.error, `The live feed stopped: ${errors[0].message}`);
    }
    setTimeout(() => generation === this.generation && this.subscription?.restart(), 1_000);
  }

  /// Draws the newest messages first, at most SHOWN; `fresh` is marked.
  render(fresh = null) {
    const ids = [...this.messages.keys()].sort().reverse();
    for (const id of ids.slice(SHOWN)) this.messages.delete(id);
    const items = ids.slice(0, SHOWN).map((id) => this.item(id, this.messages.get(id), id === fresh));
    this.list.replaceChildren(...items);
    this.empty.hidden = items.length > 0;
  }

  item(id, message, fresh) {
    const created = new Date(message.createdAt);
    const tags = message.hashtags.map((tag) => {
      const button = el("button", { type: "button", class: "tag", title: `Show only #${tag}` }, `#${tag}`);
      button.addEventListener("click", () => this.onTag(tag));
      return button;
    });
    return el(
      "li",
      { class: fresh ? "message fresh" : "message", "data-id": id },
      el(
        "div",
        { class: "message-head" },
        el("span", { class: "user" }, message.user.name),
        el("time", { datetime: message.createdAt, title: created.toISOString() }, when(created)),
      ),
      el("p", { class: "text" }, message.text),
      tags.length ? el("div", { class: "tags" }, ...tags) : null,
    );
  }
}
