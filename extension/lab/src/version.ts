// The extension and the server extension ship in one wheel; a page left open across an
// upgrade (or a second environment's Lab) can still pair them wrongly. Say so plainly.

import packageJson from "../package.json";

export const EXTENSION_VERSION: string = packageJson.version;

/** null when the two agree; otherwise what the researcher should do. */
export function versionMismatch(serverVersion: string, extensionVersion: string = EXTENSION_VERSION): string | null {
  if (serverVersion === extensionVersion) return null;
  return (
    `AlphaPulse server ${serverVersion || "(unknown)"} and Lab extension ${extensionVersion} differ: ` +
    "reinstall one alphapulse package in this environment, restart Jupyter and reload the page."
  );
}
