import { describe, expect, it } from "vitest";
import {
  complete,
  duckdbCell,
  hasCode,
  insideQuoted,
  statementAt,
  statementRanges,
  tableAliases,
} from "../src/sql_text";
import type { SchemaReply } from "../src/types";

const schema: SchemaReply = {
  tables: [
    {
      name: "trades",
      columns: [
        { name: "ts_event", type: "TIMESTAMPTZ_NS" },
        { name: "price", type: "DOUBLE" },
        { name: "size", type: "DOUBLE" },
        { name: "instrument", type: "VARCHAR" },
      ],
    },
    {
      name: "news",
      columns: [
        { name: "headline", type: "VARCHAR" },
        { name: "symbols", type: "VARCHAR[]" },
      ],
    },
  ],
};

const labels = (text: string, offset = text.length) => complete(schema, text, offset).items.map((i) => i.label);

describe("statements", () => {
  it("splits at semicolons outside quotes and comments", () => {
    const text = "select ';' as a; -- x; y\nselect \"a;b\" from t; /* ; */ select 3";
    const parts = statementRanges(text).map(([s, e]) => text.slice(s, e).trim());
    expect(parts).toEqual(["select ';' as a", '-- x; y\nselect "a;b" from t', "/* ; */ select 3"]);
  });

  it("keeps a doubled quote inside a literal", () => {
    expect(statementRanges("select 'it''s; fine'; select 2")).toHaveLength(2);
  });

  it("runs the statement under the cursor", () => {
    const text = "select 1;\nselect 2;\nselect 3";
    expect(statementAt(text, 3)).toBe("select 1");
    expect(statementAt(text, text.indexOf("2"))).toBe("select 2");
    expect(statementAt(text, text.length)).toBe("select 3");
  });

  it("after the last semicolon on an empty line runs the statement before", () => {
    const text = "select 1;\nselect 2;\n\n";
    expect(statementAt(text, text.length)).toBe("select 2");
  });

  it("keeps DuckDB's dollar-quoted strings and nested comments whole", () => {
    expect(statementRanges("select $$a;b$$; select $x$ ' ; $x$; select 3")).toHaveLength(3);
    expect(statementRanges("/* a /* b; */ c; */ select 1; select 2")).toHaveLength(2);
    expect(statementRanges("select $1, 2; select 3")).toHaveLength(2); // a parameter, not a quote
  });

  it("knows when the cursor is in a literal or a comment", () => {
    expect(insideQuoted("select 'abc", 11)).toBe(true);
    expect(insideQuoted("select 'abc' ", 13)).toBe(false);
    expect(insideQuoted("select 1 -- tr", 14)).toBe(true);
    expect(insideQuoted("select 1 -- x\nfrom tr", 21)).toBe(false);
    expect(labels("select 'tr")).toEqual([]);
  });

  it("skips comment-only pieces", () => {
    expect(hasCode("-- only a comment\n/* and this */")).toBe(false);
    expect(statementAt("-- nothing here", 3)).toBe("");
  });
});

describe("completion", () => {
  it("offers tables after FROM, and only tables", () => {
    expect(labels("select * from tr")).toEqual(["trades"]);
    expect(labels("select * from ").sort()).toEqual(["news", "trades"]);
  });

  it("offers the columns of the tables the statement reads", () => {
    const items = labels("select pr from trades", "select pr".length);
    expect(items).toContain("price");
    expect(items).not.toContain("headline");
  });

  it("resolves an alias after a dot", () => {
    const text = "select t. from trades as t";
    expect(labels(text, "select t.".length)).toEqual(["ts_event", "price", "size", "instrument"]);
    expect(labels("select n.he from news n", "select n.he".length)).toEqual(["headline"]);
  });

  it("replaces the word being typed", () => {
    const reply = complete(schema, "select pri", 10);
    expect(reply.start).toBe(7);
    expect(reply.end).toBe(10);
  });

  it("matches any case and adds keywords only for a typed prefix", () => {
    expect(labels("SELECT * FROM TR")).toEqual(["trades"]);
    expect(labels("sel")).toContain("SELECT");
    expect(labels("select ")).not.toContain("SELECT");
  });

  it("reads schema-qualified tables, comma lists and quoted names", () => {
    const tables = new Set(["trades", "news"]);
    expect([...tableAliases("select * from main.trades t where 1", tables)]).toEqual([
      ["trades", "trades"],
      ["t", "trades"],
    ]);
    expect(tableAliases("select * from trades t, news as n", tables).get("n")).toBe("news");
    expect(tableAliases('select * from "trades" x join news on true', tables).get("x")).toBe("trades");
    expect(labels('select "t". from trades t', 'select "t".'.length)).toContain("price");
  });

  it("offers tables after a schema name", () => {
    expect(labels("select * from main.tr")).toEqual(["trades"]);
  });

  it("does not take a keyword for an alias", () => {
    const aliases = tableAliases("select * from trades where price > 1", new Set(["trades"]));
    expect([...aliases.keys()]).toEqual(["trades"]);
  });

  it("wraps a query as a %%duckdb cell", () => {
    expect(duckdbCell("  select 1;\n")).toBe("%%duckdb\nselect 1;");
  });
});
