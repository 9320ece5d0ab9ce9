import { defineConfig } from "vitest/config";

// The pure modules' tests run in Node: no browser, no Lab (those are the Playwright tests').
export default defineConfig({ test: { include: ["test/**/*.test.ts"], environment: "node" } });
