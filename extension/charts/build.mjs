// Builds the charts' ES module for anywidget: src/index.ts and lightweight-charts bundled
// into one minified file, alphapulse/widgets/static/charts.js (nothing is fetched at run
// time). lightweight-charts' licence comment is kept at the end of the bundle
// (legalComments), its LICENSE is copied next to it, and static/NOTICE (committed) carries
// the attribution TradingView asks for. The build fails when the bundle passes its budget
// or lost the licence comment.
//
//   node build.mjs          the bundle
//   node build.mjs --test   the unit tests of the pure modules (test/*.test.ts) in Node

import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = resolve(here, "../../alphapulse/widgets/static");
const bundle = join(staticDir, "charts.js");
/** The budget for the front end, in bytes. */
const MAX_BYTES = 300_000;
const LICENCE_MARK = "TradingView Lightweight Charts";

async function buildBundle() {
  mkdirSync(staticDir, { recursive: true });
  await build({
    entryPoints: [join(here, "src/index.ts")],
    outfile: bundle,
    bundle: true,
    format: "esm",
    minify: true,
    target: ["es2020"],
    conditions: ["production"],
    legalComments: "eof",
    logLevel: "warning",
  });
  copyFileSync(
    join(here, "node_modules/lightweight-charts/LICENSE"),
    join(staticDir, "LICENSE.lightweight-charts.txt"),
  );
  const text = readFileSync(bundle, "utf8");
  const size = Buffer.byteLength(text);
  if (!text.includes(LICENCE_MARK)) throw new Error(`${bundle} lost lightweight-charts' licence comment`);
  if (size > MAX_BYTES) throw new Error(`${bundle} is ${size} bytes, over the ${MAX_BYTES} budget`);
  console.log(`${bundle}: ${(size / 1000).toFixed(1)} kB (budget ${MAX_BYTES / 1000} kB)`);
}

async function runTests() {
  const testDir = join(here, "test");
  const tests = readdirSync(testDir).filter((f) => f.endsWith(".test.ts"));
  const out = mkdtempSync(join(tmpdir(), "alphapulse-charts-test-"));
  try {
    await build({
      entryPoints: tests.map((f) => join(testDir, f)),
      outdir: out,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      platform: "node",
      format: "esm",
      target: ["node20"],
      logLevel: "warning",
    });
    const files = readdirSync(out).map((f) => join(out, f));
    const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
    process.exitCode = run.status ?? 1;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (process.argv.includes("--test")) await runTests();
else await buildBundle();
