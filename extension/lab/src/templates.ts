// New files: research notebooks from AlphaPulse's templates (notebooks/ in the sources,
// shipped in the wheel and served by GET templates) and AlphaPulse SQL files.

import type { JupyterFrontEnd } from "@jupyterlab/application";
import { requestAPI } from "./api";
import type { TemplateInfo } from "./types";

export const SQL_STARTER = `-- AlphaPulse SQL over the lake (read-only). Shift+Enter runs the statement under the
-- cursor (or the selection); Tab completes tables and columns.
select venue, instrument, count(*) as trades, avg(price) as avg_price
from trades
group by all
order by trades desc;
`;

export async function listTemplates(): Promise<TemplateInfo[]> {
  return (await requestAPI<{ templates: TemplateInfo[] }>("templates")).templates;
}

/** `dir/name.ext`, or `dir/name-2.ext`... when taken. */
export async function freePath(
  exists: (path: string) => Promise<boolean>,
  dir: string,
  name: string,
  ext: string,
): Promise<string> {
  const prefix = dir ? `${dir}/` : "";
  for (let n = 1; ; n += 1) {
    const path = `${prefix}${name}${n === 1 ? "" : `-${n}`}${ext}`;
    if (!(await exists(path))) return path;
  }
}

/** Writes the template into the file browser's folder and opens it. */
export async function newFromTemplate(app: JupyterFrontEnd, name: string, dir: string): Promise<unknown> {
  const content = await requestAPI<Record<string, unknown>>(`templates/${encodeURIComponent(name)}`);
  const contents = app.serviceManager.contents;
  const exists = (path: string) =>
    contents.get(path, { content: false }).then(
      () => true,
      () => false,
    );
  const path = await freePath(exists, dir, name, ".ipynb");
  await contents.save(path, { type: "notebook", format: "json", content });
  return app.commands.execute("docmanager:open", { path });
}

/** A new untitled .sql file with a first query, open in the editor. */
export async function newSqlFile(app: JupyterFrontEnd, dir: string): Promise<unknown> {
  const contents = app.serviceManager.contents;
  const model = await contents.newUntitled({ path: dir, type: "file", ext: ".sql" });
  await contents.save(model.path, { type: "file", format: "text", content: SQL_STARTER });
  return app.commands.execute("docmanager:open", { path: model.path, factory: "Editor" });
}
