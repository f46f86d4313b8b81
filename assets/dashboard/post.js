// The post form: a message and its hashtags, posted with `postMessage` as
// the bearer of the token kept in localStorage. In the historical token
// mode the token is the base64 of the user name, which the form computes
// as the name is typed; a signed token can be pasted instead.

import { graphql } from "./graphql.js";
import { showError } from "./dom.js";

const POST = `mutation Post($input: PostMessageInput!) { postMessage(input: $input) { id } }`;
const USER_KEY = "dunder.user";
const TOKEN_KEY = "dunder.token";

/// Standard base64 of the name's UTF-8 bytes (`echo -n $USER | base64`).
export function historicalToken(name) {
  const bytes = new TextEncoder().encode(name);
  return btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""));
}

/// The hashtags typed, split on spaces and commas, a leading `#` dropped.
export function parseHashtags(raw) {
  return raw
    .split(/[\s,]+/)
    .map((tag) => tag.replace(/^#/, ""))
    .filter((tag) => tag.length > 0);
}

export class PostForm {
  /// `onPosted()` after a message is accepted.
  constructor(onPosted) {
    this.onPosted = onPosted;
    this.form = document.getElementById("post");
    this.user = document.getElementById("post-user");
    this.token = document.getElementById("post-token");
    this.text = document.getElementById("post-text");
    this.hashtags = document.getElementById("post-tags");
    this.submit = document.getElementById("post-submit");
    this.status = document.getElementById("post-status");
    this.error = document.getElementById("post-error");
    this.user.value = localStorage.getItem(USER_KEY) ?? "";
    this.token.value = localStorage.getItem(TOKEN_KEY) ?? "";
    this.user.addEventListener("input", () => {
      const name = this.user.value.trim();
      this.token.value = name ? historicalToken(name) : "";
      this.remember();
    });
    this.token.addEventListener("input", () => this.remember());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post();
    });
    // Ctrl+Enter (or Cmd+Enter) in the message posts it.
    this.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) this.form.requestSubmit();
    });
  }

  remember() {
    localStorage.setItem(USER_KEY, this.user.value.trim());
    localStorage.setItem(TOKEN_KEY, this.token.value.trim());
  }

  async post() {
    const token = this.token.value.trim();
    const text = this.text.value;
    showError(this.error, "");
    if (!token) {
      showError(this.error, "Enter a user name (or a token) to post.");
      this.user.focus();
      return;
    }
    if (!text.trim()) {
      showError(this.error, "Write a message first.");
      this.text.focus();
      return;
    }
    const hashtags = parseHashtags(this.hashtags.value);
    this.submit.disabled = true;
    this.status.textContent = "posting…";
    clearTimeout(this.fade);
    try {
      await graphql(POST, { input: { text, hashtags } }, token);
      this.text.value = "";
      this.hashtags.value = "";
      this.status.textContent = "posted";
      // Counted, for whoever watches the form (the browser test does).
      this.form.dataset.posted = String(Number(this.form.dataset.posted ?? 0) + 1);
      clearTimeout(this.fade);
      this.fade = setTimeout(() => {
        this.status.textContent = "";
      }, 2_000);
      this.onPosted();
    } catch (error) {
      this.status.textContent = "";
      showError(this.error, error.message);
    } finally {
      this.submit.disabled = false;
    }
  }
}
