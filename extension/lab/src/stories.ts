// The News panel's stories: their time, merging, filtering. Pure, so tested in Node.

import type { NewsStory } from "./types";

const MAX_STORIES = 300;

/** A story's time in Unix ms, whichever way it arrived (REST says time_ms, the stream time). */
export function storyTime(story: NewsStory): number {
  return Number(story.time_ms ?? story.time ?? 0);
}

/** Stories newest first, each id once, at most `max`. */
export function mergeStories(kept: readonly NewsStory[], fresh: readonly NewsStory[], max = MAX_STORIES): NewsStory[] {
  const byId = new Map<number, NewsStory>();
  for (const story of [...fresh, ...kept]) if (!byId.has(story.id)) byId.set(story.id, story);
  return [...byId.values()].sort((a, b) => storyTime(b) - storyTime(a)).slice(0, max);
}

/** Stories naming the symbol (any case); all for an empty filter. */
export function filterStories(stories: readonly NewsStory[], symbol: string): NewsStory[] {
  const wanted = symbol.trim().toUpperCase();
  if (!wanted) return [...stories];
  return stories.filter((s) => s.symbols.some((x) => x.toUpperCase() === wanted));
}
