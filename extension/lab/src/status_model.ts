// The collectors' state, shared by the Monitor, the status bar and the version check: one
// poll of GET status at the settings' refresh period (Lab's Poll: it backs off while the
// server is down and slows down while the page is hidden), one `changed` signal.

import { Poll } from "@lumino/polling";
import { type ISignal, Signal } from "@lumino/signaling";
import { ApiError, requestAPI } from "./api";
import { frameRates, totalRate } from "./rates";
import type { StatusReply, VenueStatus } from "./types";
import { versionMismatch } from "./version";

export interface VenueRow extends VenueStatus {
  rate: number | null;
}

export class StatusModel {
  status: StatusReply | null = null;
  venues: VenueRow[] = [];
  /** The sum of the venues' frames/s (null until two statuses were seen). */
  totalRate: number | null = null;
  /** Why the last poll failed, or why the collector is not answering; null when fine. */
  error: string | null = null;
  /** Set when the server's version is not this extension's. */
  mismatch: string | null = null;
  /** True when the server has no AlphaPulse extension at all (404). */
  missing = false;

  private readonly poll: Poll;
  private readonly changedSignal = new Signal<this, void>(this);

  constructor(periodMs: number) {
    this.poll = new Poll({
      auto: true,
      factory: () => this.refresh(),
      frequency: { interval: periodMs, backoff: true, max: 30_000 },
      name: "alphapulse:status",
      standby: "when-hidden",
    });
  }

  get changed(): ISignal<this, void> {
    return this.changedSignal;
  }

  set periodMs(value: number) {
    this.poll.frequency = { ...this.poll.frequency, interval: value };
  }

  /** Polls now (after an action, so the panel shows its effect at once). */
  refreshNow(): Promise<void> {
    return this.poll.refresh();
  }

  dispose(): void {
    this.poll.dispose();
    Signal.clearData(this);
  }

  private async refresh(): Promise<void> {
    let next: StatusReply;
    try {
      next = await requestAPI<StatusReply>("status");
    } catch (error) {
      this.error = error instanceof Error ? error.message : String(error);
      this.missing = error instanceof ApiError && error.status === 404;
      this.changedSignal.emit();
      throw error; // the poll backs off
    }
    const prev = this.status?.collector ?? null;
    const rates = next.collector ? frameRates(prev, next.collector) : {};
    this.venues = Object.entries(next.collector?.venues ?? {}).map(([venue, counters]) => ({
      venue,
      ...counters,
      rate: rates[venue] ?? null,
    }));
    this.totalRate = next.collector ? totalRate(rates) : null;
    this.status = next;
    this.missing = false;
    this.error = next.collector ? null : (next.error ?? `the collector is ${next.supervisor.state}`);
    this.mismatch = versionMismatch(next.version);
    this.changedSignal.emit();
  }
}
