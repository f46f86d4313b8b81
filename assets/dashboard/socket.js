// One WebSocket to `/graphql/ws` speaking graphql-transport-ws, shared by
// every subscription on the page. When it drops it reconnects with backoff
// and subscribes each subscription again, asking it for fresh variables
// (the message feed resumes after the last message it shows).

const PROTOCOL = "graphql-transport-ws";
const MAX_BACKOFF_MS = 10_000;

export class Socket {
  /// `onState` hears "connecting", "live" and "reconnecting".
  constructor(onState) {
    this.onState = onState;
    this.subscriptions = new Map();
    this.nextId = 1;
    this.backoff = 500;
    this.ws = null;
    this.acknowledged = false;
    this.connect();
  }

  /// Starts `query`; `variables()` is called at each (re)subscribe.
  /// `handlers.next(data)` gets each result, `handlers.error(errors)` the
  /// errors that end it. Returns a handle whose `stop()` ends it and whose
  /// `restart()` subscribes again with fresh variables.
  subscribe(query, variables, handlers) {
    const subscription = { id: null, query, variables, handlers, active: true };
    const handle = {
      stop: () => {
        subscription.active = false;
        this.complete(subscription);
      },
      restart: () => {
        if (!subscription.active) return;
        this.complete(subscription);
        this.start(subscription);
      },
    };
    this.start(subscription);
    return handle;
  }

  start(subscription) {
    subscription.id = String(this.nextId++);
    this.subscriptions.set(subscription.id, subscription);
    if (this.acknowledged) this.sendSubscribe(subscription);
  }

  complete(subscription) {
    if (subscription.id === null) return;
    if (this.subscriptions.delete(subscription.id) && this.acknowledged) {
      this.send({ id: subscription.id, type: "complete" });
    }
    subscription.id = null;
  }

  sendSubscribe(subscription) {
    this.send({
      id: subscription.id,
      type: "subscribe",
      payload: { query: subscription.query, variables: subscription.variables() },
    });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/graphql/ws`, PROTOCOL);
    this.ws = ws;
    this.acknowledged = false;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "connection_init", payload: {} })));
    ws.addEventListener("message", (event) => this.receive(event.data));
    ws.addEventListener("close", () => {
      if (this.ws !== ws) return;
      this.acknowledged = false;
      this.onState("reconnecting");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    });
  }

  receive(raw) {
    let message;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    const subscription = this.subscriptions.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.acknowledged = true;
        this.backoff = 500;
        this.onState("live");
        for (const each of this.subscriptions.values()) this.sendSubscribe(each);
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (!subscription) break;
        if (message.payload?.errors?.length) {
          this.ended(subscription, message.payload.errors);
        } else if (message.payload?.data) {
          subscription.handlers.next(message.payload.data);
        }
        break;
      case "error":
        if (subscription) this.ended(subscription, message.payload);
        break;
      case "complete":
        if (subscription) this.ended(subscription, []);
        break;
      default:
        break;
    }
  }

  /// The server ended a subscription (with errors, or none when it
  /// completed it): forgotten here, reported to its owner.
  ended(subscription, errors) {
    this.subscriptions.delete(subscription.id);
    subscription.id = null;
    subscription.handlers.error(Array.isArray(errors) ? errors : [errors]);
  }
}
