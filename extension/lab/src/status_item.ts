// The status bar item: how many collectors are up and the total frames/s; a click opens the
// Monitor.

import { Widget } from "@lumino/widgets";
import { activate } from "./activate";
import { formatRate } from "./rates";
import type { StatusModel } from "./status_model";

/** "AlphaPulse 4/4 up · 3,412 frames/s", or why it is down. */
export function statusText(model: StatusModel): string {
  if (model.mismatch) return "AlphaPulse: version mismatch";
  if (model.missing) return "AlphaPulse: no server extension";
  if (model.status === null) return model.error ? "AlphaPulse: server unreachable" : "AlphaPulse…";
  if (model.status.collector === null) return `AlphaPulse: collector ${model.status.supervisor.state}`;
  const up = model.venues.filter((v) => v.state === "running").length;
  return `AlphaPulse ${up}/${model.venues.length} up · ${formatRate(model.totalRate)} frames/s`;
}

export class StatusItem extends Widget {
  constructor(
    private readonly model: StatusModel,
    onClick: () => void,
  ) {
    super();
    this.addClass("alphapulse-StatusItem");
    this.node.title = "AlphaPulse collectors (click for the Monitor)";
    activate(this.node, onClick);
    model.changed.connect(this.update_, this);
    this.update_();
  }

  override dispose(): void {
    this.model.changed.disconnect(this.update_, this);
    super.dispose();
  }

  private update_(): void {
    const { model } = this;
    this.node.textContent = statusText(model);
    const down = model.error !== null || model.mismatch !== null || model.venues.some((v) => v.state !== "running");
    this.node.classList.toggle("alphapulse-mod-down", down);
  }
}
