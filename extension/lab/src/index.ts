// AlphaPulse's JupyterLab extension: the plugins Lab loads from this package.

import type { JupyterFrontEndPlugin } from "@jupyterlab/application";
import { mainPlugin } from "./plugin";
import { sqlPlugin } from "./sql_plugin";

const plugins: JupyterFrontEndPlugin<unknown>[] = [mainPlugin, sqlPlugin];
export default plugins;
