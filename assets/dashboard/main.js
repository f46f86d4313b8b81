// The dashboard's entry point: one WebSocket for the live parts, and the
// hashtag filter that the list, the live feed and the chart follow. The
// filter is kept in the address (`/#tag=rust`), so a view can be shared
// and survives a reload.

import { Chart } from "./chart.js";
import { Feed } from "./feed.js";
import { PostForm } from "./post.js";
import { Socket } from "./socket.js";
import { Trending } from "./trending.js";

const connection = document.getElementById("connection");
const filterForm = document.getElementById("filter");
const filterInput = document.getElementById("filter-tag");
const filterClear = document.getElementById("filter-clear");

const socket = new Socket((state) => {
  connection.dataset.state = state;
  connection.textContent = state;
});
const trending = new Trending(setFilter);
const feed = new Feed(socket, { onTag: setFilter, onArrival: () => trending.soon() });
const chart = new Chart(socket);
new PostForm(() => trending.soon());

let current;

/// Filters everything by `tag`, or shows all for null or "".
function setFilter(tag) {
  const next = tag ? tag.trim().replace(/^#/, "") || null : null;
  if (next === current) return;
  current = next;
  filterInput.value = next ?? "";
  filterClear.hidden = next === null;
  const hash = next ? `#tag=${encodeURIComponent(next)}` : "";
  if (location.hash !== hash) history.replaceState(null, "", hash || location.pathname);
  trending.select(next);
  feed.show(next);
  chart.show(next);
}

function tagInAddress() {
  const match = /^#tag=(.+)$/.exec(location.hash);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  setFilter(filterInput.value);
});
filterClear.addEventListener("click", () => setFilter(null));
window.addEventListener("hashchange", () => setFilter(tagInAddress()));

setFilter(tagInAddress());
trending.refresh();
