// One WebSocket to the server's stream (/alphapulse/api/stream) for the whole extension:
// the News panel and every chart panel's trade list subscribe through it. Subscriptions are
// reference-counted (two panels on one instrument: one subscription) and sent again after
// a reconnect; a closed socket is reopened with backoff. The charts themselves open their
// own socket from the shared charts bundle, as they do in a notebook.

import { apiToken, apiUrl } from "./api";

export interface Subscription {
  channel: "trades" | "book" | "bars" | "status" | "news";
  instrument?: string;
  interval?: string;
  depth?: number;
}

export interface StreamItem {
  channel: string;
  instrument?: string;
  rows?: Record<string, unknown>[];
  [key: string]: unknown;
}

type Listener = (item: StreamItem) => void;

const MAX_BACKOFF_MS = 10_000;

/** The key two equal subscriptions share. */
export function subscriptionKey(s: Subscription): string {
  return [s.channel, s.instrument ?? "", s.interval ?? "", s.depth ?? ""].join("|");
}

/** Whether an ITEM answers a subscription. */
export function itemMatches(item: StreamItem, s: Subscription): boolean {
  if (item.channel !== s.channel) return false;
  if (s.instrument !== undefined && item.instrument !== s.instrument) return false;
  return s.interval === undefined || item["interval"] === s.interval;
}

export class StreamConnection {
  private socket: WebSocket | null = null;
  private readonly subs = new Map<string, { spec: Subscription; listeners: Set<Listener> }>();
  private backoff = 500;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;
  /** Messages received, for the tests and the Monitor's footer. */
  messages = 0;
  private opened = false;
  private readonly reopenListeners = new Set<() => void>();

  /** Calls `listener` each time the socket opens again after it closed: what was pushed
   * meanwhile is lost, so a panel fetches what it missed. */
  onReopen(listener: () => void): () => void {
    this.reopenListeners.add(listener);
    return () => this.reopenListeners.delete(listener);
  }

  /** Calls `listener` with every ITEM of the subscription; the returned function ends it. */
  subscribe(spec: Subscription, listener: Listener): () => void {
    const key = subscriptionKey(spec);
    let entry = this.subs.get(key);
    if (entry === undefined) {
      entry = { spec, listeners: new Set() };
      this.subs.set(key, entry);
      this.send({ op: "subscribe", ...spec });
    }
    entry.listeners.add(listener);
    this.ensureOpen();
    return () => {
      const current = this.subs.get(key);
      if (current === undefined || !current.listeners.delete(listener) || current.listeners.size > 0) return;
      this.subs.delete(key);
      this.send({ op: "unsubscribe", ...spec });
    };
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
    this.subs.clear();
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private ensureOpen(): void {
    if (this.socket !== null || this.timer !== null || this.disposed) return;
    const url = new URL(apiUrl("stream", true), window.location.href);
    const token = apiToken();
    if (token) url.searchParams.set("token", token);
    const socket = new WebSocket(url.toString());
    this.socket = socket;
    socket.onopen = () => {
      this.backoff = 500;
      for (const { spec } of this.subs.values()) socket.send(JSON.stringify({ op: "subscribe", ...spec }));
      if (this.opened) for (const listener of this.reopenListeners) listener();
      this.opened = true;
    };
    socket.onmessage = (event: MessageEvent) => this.receive(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.disposed || this.subs.size === 0) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.ensureOpen();
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    };
  }

  private receive(data: unknown): void {
    if (typeof data !== "string") return;
    let frame: { type?: string; items?: StreamItem[]; message?: unknown };
    try {
      frame = JSON.parse(data) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === "error") console.warn("AlphaPulse stream:", frame.message);
    if (frame.type !== "update" || !Array.isArray(frame.items)) return;
    this.messages += 1;
    for (const item of frame.items) {
      for (const { spec, listeners } of this.subs.values()) {
        if (!itemMatches(item, spec)) continue;
        for (const listener of listeners) listener(item);
      }
    }
  }
}
