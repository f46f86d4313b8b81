// Small DOM helpers: elements built with textContent (never innerHTML, so
// message text can hold no markup), SVG elements, and times and ids.

const SVG = "http://www.w3.org/2000/svg";

/// An element with attributes (`class`, `data-*`, ...) and children
/// (strings become text nodes).
export function el(tag, attributes = {}, ...children) {
  return build(document.createElement(tag), attributes, children);
}

/// An SVG element, the same way.
export function svg(tag, attributes = {}, ...children) {
  return build(document.createElementNS(SVG, tag), attributes, children);
}

function build(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/// Shows `message` in `node` (a `.error` paragraph), or hides it when empty.
export function showError(node, message) {
  node.textContent = message ?? "";
  node.hidden = !message;
}

const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/// "14:03:27" today, "Nov 27 14:03:27" before.
export function when(date) {
  const today = new Date().toDateString() === date.toDateString();
  return today ? time.format(date) : `${day.format(date)} ${time.format(date)}`;
}

/// "14:03".
export function hourMinute(date) {
  return clock.format(date);
}

/// The plain message id (a ULID) inside a GraphQL global id, which is the
/// URL-safe base64 of `Message:<ULID>`; ULIDs sort in time order.
export function plainId(globalId) {
  try {
    const text = atob(globalId.replaceAll("-", "+").replaceAll("_", "/"));
    const [kind, key] = text.split(":");
    return kind === "Message" && key ? key : globalId;
  } catch {
    return globalId;
  }
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The smallest ULID of millisecond `ms`: as a subscription's `after`, it
/// means "everything created from then on".
export function ulidAt(ms) {
  let rest = Math.max(0, Math.floor(ms));
  let head = "";
  for (let i = 0; i < 10; i += 1) {
    head = CROCKFORD[rest % 32] + head;
    rest = Math.floor(rest / 32);
  }
  return head + "0".repeat(16);
}
