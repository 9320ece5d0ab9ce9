import { LabIcon } from "@jupyterlab/ui-components";

const PULSE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <path class="jp-icon3" fill="none" stroke="#616161" stroke-width="2" stroke-linejoin="round"
    d="M2 13h4l2.5-7 4 13 3-9 1.8 3H22"/></svg>`;

export const pulseIcon = new LabIcon({ name: "alphapulse:pulse", svgstr: PULSE_SVG });
