// The AlphaPulse sidebar: Monitor, Instruments, News and Reports as sections of one Lab
// SidePanel.

import { SidePanel } from "@jupyterlab/ui-components";
import { AccordionPanel } from "@lumino/widgets";
import { pulseIcon } from "./icons";
import { InstrumentsPanel } from "./instruments";
import { MonitorPanel } from "./monitor";
import { NewsPanel, type OpenStory } from "./news";
import { ReportsPanel } from "./reports";
import type { StatusModel } from "./status_model";
import type { StreamConnection } from "./stream";

export class AlphaPulseSidebar extends SidePanel {
  readonly monitor: MonitorPanel;
  readonly instruments: InstrumentsPanel;
  readonly news: NewsPanel;
  readonly reports: ReportsPanel;

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
    this.title.caption = "AlphaPulse: collectors, instruments, news, reports";
    this.monitor = new MonitorPanel(options.model);
    this.instruments = new InstrumentsPanel(options.openChart, options.model);
    this.news = new NewsPanel(options.stream, options.openStory);
    this.addWidget(this.monitor);
    this.addWidget(this.instruments);
    this.reports = new ReportsPanel();
    this.addWidget(this.news);
    this.addWidget(this.reports);
    // The Monitor has the most to show; the instruments list is short.
    if (this.content instanceof AccordionPanel) this.content.setRelativeSizes([0.4, 0.15, 0.25, 0.2]);
  }

  /** Opens the Monitor's section (the others keep their state). */
  showMonitor(): void {
    if (this.content instanceof AccordionPanel) this.content.expand(0);
  }

  /** Opens the Reports section with over half of the height (three lists and a form; the
   * others keep their share of the rest). */
  showReports(): void {
    const content = this.content;
    if (!(content instanceof AccordionPanel)) return;
    content.expand(3);
    const sizes = content.relativeSizes();
    const own = sizes[3] ?? 0;
    const rest = sizes.reduce((a, b) => a + b, 0) - own;
    if (own < 0.5 && rest > 0) content.setRelativeSizes(sizes.map((s, i) => (i === 3 ? 0.55 : (s / rest) * 0.45)));
  }
}
