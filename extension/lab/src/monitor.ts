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
import type { EventRow } from "./types";

export class MonitorPanel extends Widget {
  private readonly banner = document.createElement("div");
  private readonly summary = document.createElement("div");
  private readonly venueList = document.createElement("div");
  private readonly eventList = document.createElement("ol");
  private events: EventRow[] = [];
  /** Each venue's newest event, from every event seen (the list keeps only the newest). */
  private readonly lastByVenue = new Map<string, EventRow>();
  private readonly showCommits = document.createElement("input");
  private since = -1;
  private readonly eventsPoll: Poll;
  private readonly busy = new Set<string>();
  private readonly cards = new Map<string, VenueCard>();

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
    // The lake's commits are most of the log (one per file): hidden unless asked for.
    const commits = document.createElement("label");
    commits.className = "alphapulse-Monitor-commits";
    this.showCommits.type = "checkbox";
    this.showCommits.onchange = () => this.renderEvents();
    commits.append(this.showCommits, " file commits");
    heading.append(commits);
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
    // The first call takes the newest events (the log can be long); later ones only what
    // came after.
    const query = this.since < 0 ? "events?tail=1000" : `events?since=${this.since}&limit=1000`;
    const reply = await requestAPI<{ events: EventRow[] }>(query);
    for (const e of reply.events) this.since = Math.max(this.since, e.seq);
    if (reply.events.length === 0) return;
    for (const e of reply.events) {
      const kept = e.venue === null ? undefined : this.lastByVenue.get(e.venue);
      if (e.venue !== null && (kept === undefined || kept.seq < e.seq)) this.lastByVenue.set(e.venue, e);
    }
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
    this.renderVenues();
  }

  /** Venue cards are updated in place, not rebuilt on every status: a click on a button or
   * the keyboard focus on it survives the next tick. */
  private renderVenues(): void {
    const seen = new Set<string>();
    for (const venue of this.model.venues) {
      seen.add(venue.venue);
      let card = this.cards.get(venue.venue);
      if (card === undefined) {
        card = new VenueCard(venue.venue, (action) => void this.act(venue.venue, action));
        this.cards.set(venue.venue, card);
      }
      const last = this.lastByVenue.get(venue.venue);
      card.update(venue, last, this.busy.has(venue.venue));
    }
    for (const [name, card] of this.cards) {
      if (!seen.has(name)) {
        card.node.remove();
        this.cards.delete(name);
      }
    }
    const order = this.model.venues.map((v) => this.cards.get(v.venue)?.node);
    if (order.some((node, i) => node !== this.venueList.children[i])) {
      this.venueList.replaceChildren(...order.filter((n): n is HTMLDivElement => n !== undefined));
    }
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
    const shown = this.showCommits.checked ? this.events : this.events.filter((e) => e.kind !== "file_committed");
    const items = shown.map((event) => {
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

/** A venue as two lines: name, state, frames/s and the stop/start button; then its
 * integrity counters and last event (the sidebar is narrow: no wide table). */
class VenueCard {
  readonly node = document.createElement("div");
  private readonly state = span("", "state");
  private readonly frames = span("", "frames");
  private readonly button = document.createElement("button");
  private readonly total = span("", "frames-total");
  private readonly gaps = span("", "gaps");
  private readonly resyncs = span("", "resyncs");
  private readonly rejects = span("", "rejects");
  private readonly outOfSync = span("", "out-of-sync");
  private readonly last = span("", "last-event");
  private stopped = false;

  constructor(
    readonly venue: string,
    act: (action: "start" | "stop") => void,
  ) {
    this.node.className = "alphapulse-Monitor-venue";
    this.node.dataset["venue"] = venue;
    this.button.className = "jp-Button jp-mod-styled jp-mod-small alphapulse-Monitor-action";
    this.button.onclick = () => act(this.stopped ? "start" : "stop");
    const head = document.createElement("div");
    head.className = "alphapulse-Monitor-head";
    head.append(span(venue, "venue"), this.state, this.frames, this.button);
    const counters = document.createElement("div");
    counters.className = "alphapulse-Monitor-counters";
    counters.append(this.total, this.gaps, this.resyncs, this.rejects, this.outOfSync);
    this.node.append(head, counters, this.last);
  }

  update(venue: VenueRow, last: EventRow | undefined, busy: boolean): void {
    this.stopped = venue.state === "stopped";
    this.node.dataset["state"] = venue.state;
    this.state.textContent = venue.state;
    this.state.className = `state alphapulse-state-${venue.state}`;
    this.frames.textContent = `${formatRate(venue.rate)} f/s`;
    this.frames.title = "frames per second";
    this.button.textContent = this.stopped ? "start" : "stop";
    this.button.title = `${this.stopped ? "Start" : "Stop"} the ${venue.venue} collector`;
    this.button.disabled = busy;
    this.total.textContent = `frames ${formatCount(venue.frames)}`;
    this.gaps.textContent = `gaps ${formatCount(venue.gaps)}`;
    this.resyncs.textContent = `resyncs ${formatCount(venue.resyncs)}`;
    this.rejects.textContent = `rejects ${formatCount(venue.rejects)}`;
    const outOfSync = venue.out_of_sync.length ? venue.out_of_sync.join(", ") : "none";
    this.outOfSync.textContent = `out of sync: ${outOfSync}`;
    this.outOfSync.classList.toggle("alphapulse-error", venue.out_of_sync.length > 0);
    this.last.textContent = last ? `last event: ${describeEvent(last)} (${ago(last.ts_ns / 1e6)})` : "last event: –";
  }
}
