// Package stage: reading and comparing files and trees.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Relative paths that differ (by presence or content) between two trees. */
export function compareTrees(a, b) {
  const list = (dir) => walk(dir).map((f) => f.slice(dir.length + 1)).sort();
  const left = list(a);
  const right = list(b);
  const all = [...new Set([...left, ...right])];
  return all.filter((f) => {
    if (!left.includes(f) || !right.includes(f)) return true;
    return !readFileSync(join(a, f)).equals(readFileSync(join(b, f)));
  });
}

/** Every file under `dir`, recursively. */
export function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]
  );
}

/** Parses the JSON file at `path`. */
export function readJson(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}
