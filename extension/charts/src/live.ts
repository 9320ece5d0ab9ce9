// A live chart's source of stream ITEMs. The server's WebSocket (/alphapulse/api/stream,
// under the page's base URL from the jupyter-config-data script that Lab, Notebook 7 and
// Voila write) when it can be opened; otherwise the kernel relay, asked for with
// {"type": "relay"} (standalone Voila, another server, no server extension). Either way the
// same ITEMs reach the store. A socket that worked once and then closed (the server
// restarted) is reconnected with backoff, not replaced by the relay.

import type { ServerFrame, StreamItem, Subscribe } from "./protocol";

export type LiveState = "off" | "connecting" | "server" | "relay" | "reconnecting" | "error";

export interface LiveSink {
  items(items: StreamItem[]): void;
  state(state: LiveState, detail: string): void;
}

/** Milliseconds the first connection may take before the relay is asked for instead. */
const OPEN_TIMEOUT_MS = 5000;
const MAX_BACKOFF_MS = 10_000;

interface PageConfig {
  baseUrl?: unknown;
  token?: unknown;
}

/** The stream's URL on this page's Jupyter server, or null on a page without one. */
export function streamUrl(): string | null {
  const script = typeof document === "undefined" ? null : document.getElementById("jupyter-config-data");
  if (!script?.textContent) return null;
  let config: PageConfig;
  try {
    config = JSON.parse(script.textContent) as PageConfig;
  } catch {
    return null;
  }
  if (typeof config.baseUrl !== "string") return null;
  const base = config.baseUrl.endsWith("/") ? config.baseUrl : `${config.baseUrl}/`;
  const url = new URL(`${base}alphapulse/api/stream`, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  // Lab passes its token on sockets the same way when the page has one (else the cookie does).
  if (typeof config.token === "string" && config.token) url.searchParams.set("token", config.token);
  return url.toString();
}

export class LiveSource {
  private socket: WebSocket | null = null;
  private stopped = false;
  private everOpened = false;
  private backoff = 500;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly specs: readonly Subscribe[],
    private readonly sink: LiveSink,
    private readonly askRelay: () => void,
  ) {}

  start(): void {
    const url = streamUrl();
    if (url === null || typeof WebSocket !== "function") {
      this.relay("no Jupyter server on this page");
      return;
    }
    this.sink.state("connecting", "");
    this.connect(url);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }

  private relay(why: string): void {
    if (this.stopped) return;
    this.sink.state("relay", why);
    this.askRelay();
  }

  private connect(url: string): void {
    let opened = false;
    const socket = new WebSocket(url);
    this.socket = socket;
    const timeout = setTimeout(() => {
      if (!opened) socket.close();
    }, OPEN_TIMEOUT_MS);
    socket.onopen = () => {
      opened = true;
      this.everOpened = true;
      this.backoff = 500;
      clearTimeout(timeout);
      for (const spec of this.specs) socket.send(JSON.stringify(spec));
      this.sink.state("server", "");
    };
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== "string") return;
      let frame: ServerFrame;
      try {
        frame = JSON.parse(event.data) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "update") this.sink.items(frame.items);
      else if (frame.type === "error") this.sink.state("error", frame.message);
    };
    socket.onclose = () => {
      clearTimeout(timeout);
      if (this.stopped || this.socket !== socket) return;
      this.socket = null;
      if (!this.everOpened) {
        this.relay("the server has no AlphaPulse stream");
        return;
      }
      this.sink.state("reconnecting", "");
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.stopped) this.connect(url);
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    };
  }
}
