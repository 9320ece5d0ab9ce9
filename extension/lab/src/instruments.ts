// Instruments: the instruments being collected, searchable; a click opens a live chart.

import { Widget } from "@lumino/widgets";
import { requestAPI } from "./api";
import { activate } from "./activate";
import { chartable, searchInstruments } from "./instrument_search";
import type { StatusModel } from "./status_model";
import type { Instrument } from "./types";

export class InstrumentsPanel extends Widget {
  private readonly search = document.createElement("input");
  private readonly list = document.createElement("ul");
  private readonly message = document.createElement("div");
  private instruments: Instrument[] = [];

  private collectorKey = "";
  private lastFetch = 0;

  constructor(
    private readonly openChart: (instrument: string) => void,
    private readonly model: StatusModel,
  ) {
    super();
    this.addClass("alphapulse-Instruments");
    this.id = "alphapulse-instruments";
    this.title.label = "Instruments";
    this.search.type = "search";
    this.search.placeholder = "Search instruments (venue, symbol)";
    this.search.className = "jp-mod-styled alphapulse-search";
    this.search.oninput = () => this.render();
    this.message.className = "alphapulse-message";
    this.list.className = "alphapulse-Instruments-list";
    this.node.append(this.search, this.message, this.list);
    model.changed.connect(this.onStatus, this);
    void this.refresh();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.model.changed.disconnect(this.onStatus, this);
    super.dispose();
  }

  /** Fetched again when the collector changes (restarted, venues added or stopped) and
   * every 10 s, so the sync badges and a list that failed before the collector ran catch up. */
  private onStatus(): void {
    const collector = this.model.status?.collector;
    const key = collector ? `${collector.pid}|${this.model.venues.map((v) => v.venue + v.state).join()}` : "";
    if (key !== this.collectorKey || Date.now() - this.lastFetch > 10_000) {
      this.collectorKey = key;
      void this.refresh();
    }
  }

  /** All instruments, as last fetched. */
  get names(): string[] {
    return this.instruments.map((i) => i.instrument);
  }

  async refresh(): Promise<void> {
    this.lastFetch = Date.now();
    try {
      const reply = await requestAPI<{ instruments: Instrument[] }>("instruments");
      this.instruments = chartable(reply.instruments);
      this.message.textContent = "";
    } catch (error) {
      this.message.textContent = error instanceof Error ? error.message : String(error);
    }
    this.render();
  }

  private render(): void {
    const shown = searchInstruments(this.instruments, this.search.value);
    const items = shown.map((i) => {
      const li = document.createElement("li");
      li.dataset["instrument"] = i.instrument;
      li.title = `Open a live chart of ${i.instrument}`;
      const name = document.createElement("span");
      name.className = "alphapulse-Instruments-name";
      name.textContent = i.instrument;
      const sync = document.createElement("span");
      sync.className = `alphapulse-Instruments-sync alphapulse-synced-${String(i.synced)}`;
      sync.textContent = i.synced === true ? "book in sync" : i.synced === false ? "not in sync" : "";
      li.append(name, sync);
      activate(li, () => this.openChart(i.instrument));
      return li;
    });
    this.list.replaceChildren(...items);
    if (this.instruments.length > 0 && shown.length === 0) this.message.textContent = "No instrument matches.";
    else if (this.instruments.length > 0) this.message.textContent = "";
  }
}
