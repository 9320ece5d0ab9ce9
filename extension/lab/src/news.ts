// News: the stories as they arrive (GET news for the latest, then the stream's news
// channel), filtered by symbol; a click on a story opens its symbol's chart around the
// story's time with the story marked.

import { Widget } from "@lumino/widgets";
import { activate } from "./activate";
import { requestAPI } from "./api";
import { ago } from "./rates";
import { filterStories, mergeStories, storyTime } from "./stories";
import type { StreamConnection } from "./stream";
import type { NewsStory } from "./types";

export type OpenStory = (story: NewsStory, symbol: string) => void;

export class NewsPanel extends Widget {
  private readonly filter = document.createElement("input");
  private readonly list = document.createElement("ul");
  private readonly message = document.createElement("div");
  private stories: NewsStory[] = [];
  private readonly unsubscribe: () => void;
  private readonly unwatchReopen: () => void;
  /** "3 s ago" ages: the list is drawn again now and then even without new stories. */
  private readonly clock = setInterval(() => this.render(), 30_000);

  constructor(
    stream: StreamConnection,
    private readonly openStory: OpenStory,
  ) {
    super();
    this.addClass("alphapulse-News");
    this.id = "alphapulse-news";
    this.title.label = "News";
    this.filter.type = "search";
    this.filter.placeholder = "Filter by symbol (e.g. AAPL)";
    this.filter.className = "jp-mod-styled alphapulse-search";
    this.filter.oninput = () => this.render();
    this.message.className = "alphapulse-message";
    this.list.className = "alphapulse-News-list";
    this.node.append(this.filter, this.message, this.list);
    this.unsubscribe = stream.subscribe({ channel: "news" }, (item) => {
      this.add((item.rows ?? []) as unknown as NewsStory[]);
    });
    this.unwatchReopen = stream.onReopen(() => void this.load());
    void this.load();
  }

  override dispose(): void {
    if (this.isDisposed) return;
    this.unsubscribe();
    this.unwatchReopen();
    clearInterval(this.clock);
    super.dispose();
  }

  private async load(): Promise<void> {
    try {
      const reply = await requestAPI<{ news: NewsStory[] }>("news?limit=100");
      this.add(reply.news);
    } catch (error) {
      this.message.textContent = error instanceof Error ? error.message : String(error);
    }
  }

  private add(stories: readonly NewsStory[]): void {
    this.stories = mergeStories(this.stories, stories);
    this.render();
  }

  private render(): void {
    const shown = filterStories(this.stories, this.filter.value);
    this.message.textContent =
      this.stories.length === 0 ? "No stories yet." : shown.length === 0 ? "No story names that symbol." : "";
    const now = Date.now();
    this.list.replaceChildren(
      ...shown.map((story) => {
        const li = document.createElement("li");
        li.dataset["id"] = String(story.id);
        const headline = document.createElement("div");
        headline.className = "alphapulse-News-headline";
        headline.textContent = story.headline;
        const meta = document.createElement("div");
        meta.className = "alphapulse-News-meta";
        meta.textContent = [ago(storyTime(story), now), story.source, story.symbols.join(" ")]
          .filter(Boolean)
          .join(" · ");
        li.append(headline, meta);
        li.title = story.summary ?? story.headline;
        activate(li, () => this.openStory(story, this.filter.value.trim().toUpperCase() || story.symbols[0] || ""));
        return li;
      }),
    );
  }
}
