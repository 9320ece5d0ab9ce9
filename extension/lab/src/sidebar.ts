// The AlphaPulse sidebar: Monitor, Instruments and News as sections of one Lab SidePanel.

import { SidePanel } from "@jupyterlab/ui-components";
import { AccordionPanel } from "@lumino/widgets";
import { pulseIcon } from "./icons";
import { InstrumentsPanel } from "./instruments";
import { MonitorPanel } from "./monitor";
import { NewsPanel, type OpenStory } from "./news";
import type { StatusModel } from "./status_model";
import type { StreamConnection } from "./stream";

export class AlphaPulseSidebar extends SidePanel {
  readonly monitor: MonitorPanel;
  readonly instruments: InstrumentsPanel;
  readonly news: NewsPanel;

  constructor(options: {
    model: StatusModel;
    stream: StreamConnection;
    openChart: (instrument: string) => void;
    openStory: OpenStory;
  }) {
    super();
    this.id = "alphapulse-sidebar";
    this.addClass("alphapulse-Sidebar");
    this.title.icon = pulseIcon;
    this.title.caption = "AlphaPulse: collectors, instruments, news";
    this.monitor = new MonitorPanel(options.model);
    this.instruments = new InstrumentsPanel(options.openChart, options.model);
    this.news = new NewsPanel(options.stream, options.openStory);
    this.addWidget(this.monitor);
    this.addWidget(this.instruments);
    this.addWidget(this.news);
    // The Monitor has the most to show; the instruments list is short.
    if (this.content instanceof AccordionPanel) this.content.setRelativeSizes([0.45, 0.2, 0.35]);
  }

  /** Opens the Monitor's section (the others keep their state). */
  showMonitor(): void {
    if (this.content instanceof AccordionPanel) this.content.expand(0);
  }
}
