// The Monitor: each collector (venue) with its state, frames/s, gaps, resyncs, rejects,
// out-of-sync instruments and last event, with stop/start buttons; the service's
// wire-to-book lag; and the audit events as they are written (GET events?since=seq, polled).

import { showErrorMessage } from "@jupyterlab/apputils";
import { Poll } from "@lumino/polling";
import { Widget } from "@lumino/widgets";
import { postAPI, requestAPI } from "./api";
import { describeEvent, mergeEvents } from "./events";
import { ago, formatCount, formatLag, formatRate } from "./rates";
import type { StatusModel, VenueRow } from "./status_model";
import type { EventRow, QueryReply } from "./types";

export class MonitorPanel extends Widget {
  private readonly banner = document.createElement("div");
  private readonly summary = document.createElement("div");
  private readonly venueList = document.createElement("div");
  private readonly eventList = document.createElement("ol");
  private events: EventRow[] = [];
  private since = -1;
  private readonly eventsPoll: Poll;
  private readonly busy = new Set<string>();

  constructor(private readonly model: StatusModel) {
    super();
    this.addClass("alphapulse-Monitor");
    this.id = "alphapulse-monitor";
    this.title.label = "Monitor";
    this.banner.className = "alphapulse-banner";
    this.summary.className = "alphapulse-Monitor-summary";
    this.venueList.className = "alphapulse-Monitor-venues";
    const heading = document.createElement("h3");
    heading.textContent = "Events";
    this.eventList.className = "alphapulse-Monitor-events";
    this.node.append(this.banner, this.summary, this.venueList, heading, this.eventList);
    model.changed.connect(this.render, this);
    this.eventsPoll = new Poll({
      auto: true,
      factory: () => this.pollEvents(),
      frequency: { interval: 2000, backoff: true, max: 30_000 },
      name: "alphapulse:events",
      standby: "when-hidden",
    });
    this.render();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.eventsPoll.dispose();
    this.model.changed.disconnect(this.render, this);
    super.dispose();
  }

  private async pollEvents(): Promise<void> {
    // The first call starts from the newest events (the log can be long); later ones take
    // only what came after.
    if (this.since < 0) {
      const newest = await postAPI<QueryReply>("query", { sql: "select max(seq) from events" });
      const seq = Number(newest.rows[0]?.[0] ?? -1);
      this.since = Math.max(-1, seq - 100);
    }
    const reply = await requestAPI<{ events: EventRow[] }>(`events?since=${this.since}&limit=500`);
    for (const e of reply.events) this.since = Math.max(this.since, e.seq);
    if (reply.events.length === 0) return;
    this.events = mergeEvents(this.events, reply.events);
    this.renderEvents();
    this.render();
  }

  private render(): void {
    const { model } = this;
    const problem = model.mismatch ?? model.error;
    this.banner.textContent = problem ?? "";
    this.banner.hidden = problem === null;
    const status = model.status;
    const collector = status?.collector;
    this.summary.textContent = status
      ? [
          `collector ${status.supervisor.state}${collector ? ` (pid ${collector.pid})` : ""}`,
          `${formatRate(model.totalRate)} frames/s`,
          `wire→book p99 ${formatLag(collector?.wire_to_book_p99_us)}`,
          status.supervisor.simulated ? "simulator" : "live venues",
        ].join(" · ")
      : "waiting for the server…";
    this.venueList.replaceChildren(...model.venues.map((venue) => this.venueCard(venue)));
  }

  /** A venue as two lines: name, state, frames/s and the stop/start button; then its
   * integrity counters and last event (the sidebar is narrow: no wide table). */
  private venueCard(venue: VenueRow): HTMLDivElement {
    const card = document.createElement("div");
    card.className = "alphapulse-Monitor-venue";
    card.dataset["venue"] = venue.venue;
    card.dataset["state"] = venue.state;
    const last = this.events.find((e) => e.venue === venue.venue);
    const head = document.createElement("div");
    head.className = "alphapulse-Monitor-head";
    head.append(
      span(venue.venue, "venue"),
      span(venue.state, `state alphapulse-state-${venue.state}`),
      span(`${formatRate(venue.rate)} frames/s`, "frames"),
      this.actionButton(venue),
    );
    const outOfSync = venue.out_of_sync.length ? venue.out_of_sync.join(", ") : "none";
    const counters = document.createElement("div");
    counters.className = "alphapulse-Monitor-counters";
    counters.append(
      span(`frames ${formatCount(venue.frames)}`, "frames-total"),
      span(`gaps ${formatCount(venue.gaps)}`, "gaps"),
      span(`resyncs ${formatCount(venue.resyncs)}`, "resyncs"),
      span(`rejects ${formatCount(venue.rejects)}`, "rejects"),
      span(`out of sync: ${outOfSync}`, venue.out_of_sync.length ? "out-of-sync alphapulse-error" : "out-of-sync"),
    );
    const lastLine = span(
      last ? `last event: ${describeEvent(last)} (${ago(last.ts_ns / 1e6)})` : "last event: –",
      "last-event",
    );
    card.append(head, counters, lastLine);
    return card;
  }

  private actionButton(venue: VenueRow): HTMLButtonElement {
    const stopped = venue.state === "stopped";
    const button = document.createElement("button");
    button.className = "jp-Button jp-mod-styled jp-mod-small alphapulse-Monitor-action";
    button.textContent = stopped ? "start" : "stop";
    button.title = `${stopped ? "Start" : "Stop"} the ${venue.venue} collector`;
    button.disabled = this.busy.has(venue.venue);
    button.onclick = () => void this.act(venue.venue, stopped ? "start" : "stop");
    return button;
  }

  private async act(venue: string, action: "start" | "stop"): Promise<void> {
    this.busy.add(venue);
    this.render();
    try {
      await postAPI(`collectors/${encodeURIComponent(venue)}/${action}`);
    } catch (error) {
      await showErrorMessage(`Could not ${action} ${venue}`, error as Error);
    } finally {
      this.busy.delete(venue);
      await this.model.refreshNow();
      void this.eventsPoll.refresh();
    }
  }

  private renderEvents(): void {
    const items = this.events.map((event) => {
      const li = document.createElement("li");
      li.dataset["kind"] = event.kind;
      const time = document.createElement("time");
      time.textContent = new Date(event.ts_ns / 1e6).toISOString().slice(11, 19);
      const text = document.createElement("span");
      text.textContent = describeEvent(event);
      li.append(time, text);
      return li;
    });
    this.eventList.replaceChildren(...items);
  }
}

function span(text: string, className: string): HTMLSpanElement {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}
