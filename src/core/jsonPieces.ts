/**
 * JSON text in pieces whose concatenation is exactly JSON.stringify(value, null, 2): V8 caps a
 * string at 2^29 - 24 characters (about 760,000 report rows), and one string of a large document
 * costs its whole size in memory. A piece holds whole values (or brackets and keys), so a JSON
 * string value is never split between two pieces (redaction works on whole pieces).
 */

/** A list written into the JSON text as it is iterated (never held whole). */
export class Streamed {
  constructor(readonly items: () => Iterable<unknown>) {}
}

/**
 * Elements of a list stringified together: a piece of about 13 KB for the report's files. Pieces
 * stay small so that they die young: a string over V8's regular object size (128 KiB) is made in
 * its large-object space, and a piece still held when the young generation is collected moves to
 * the old generation, which then grows until a full collection. `pyreg report` of 100,000 files:
 * peak RSS 204 MiB with 256 elements to a piece and 1 MiB writes, 126-131 MiB with 16 and 16-32 KiB
 * writes, at less CPU (bench/README.md, "Memory curve").
 */
const JSON_SLICE = 16;
/**
 * A streamed list's elements are joined into pieces of about this many characters (for the same
 * reason): by size, since one element may be large (a project of plan --json with its files).
 */
const PIECE_CHARS = 1 << 14;

/** JSON.stringify's replacer-free rules: undefined, functions and symbols vanish from objects and
 * become null in arrays; anything that is not a plain object or array is stringified whole. */
export function* jsonPieces(value: unknown, indent: string, depth: number): Generator<string> {
  if (value instanceof Streamed) {
    // Elements stringified a batch at a time and joined into pieces of about PIECE_CHARS: an
    // element may be large (a project of plan --json with all its files), so a piece is bounded by
    // its size, not by a number of elements.
    yield* streamedPieces(value, indent);
    return;
  }
  if (
    depth === 0 ||
    value === null ||
    typeof value !== "object" ||
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  ) {
    yield (JSON.stringify(value, null, 2) ?? "null").replace(/\n/g, `\n${indent}`);
    return;
  }
  const inner = `${indent}  `;
  const omitted = (v: unknown): boolean =>
    v === undefined || typeof v === "function" || typeof v === "symbol";
  if (Array.isArray(value)) {
    if (!value.length) {
      yield "[]";
      return;
    }
    if (depth === 1) {
      // Elements stringified whole, a slice at a time.
      const text = elementsAt(indent);
      for (let i = 0; i < value.length; i += JSON_SLICE) {
        yield `${i ? "," : "["}${text(value.slice(i, i + JSON_SLICE))}`;
      }
    } else {
      for (let i = 0; i < value.length; i++) {
        yield `${i ? "," : "["}\n${inner}`;
        const v: unknown = value[i];
        yield* jsonPieces(omitted(v) ? null : v, inner, depth - 1);
      }
    }
    yield `\n${indent}]`;
    return;
  }
  let first = true;
  for (const [k, v] of Object.entries(value)) {
    if (omitted(v)) continue;
    yield `${first ? "{" : ","}\n${inner}${JSON.stringify(k)}: `;
    first = false;
    yield* jsonPieces(v, inner, depth - 1);
  }
  yield first ? "{}" : `\n${indent}}`;
}

/** The most elements stringified together (a batch holds about PIECE_CHARS characters). */
const MAX_BATCH = 256;

/**
 * Elements as they stand in a list at `indent`: each on a line of its own at `indent` plus two
 * spaces, commas between, without the brackets. JSON.stringify(list, null, 2) puts the elements
 * of an array nested k arrays deep at 2(k + 1) spaces, so a batch wrapped in k arrays comes out
 * already indented, and the wrapper's brackets are cut off. Stringifying each element, then
 * re-indenting its lines with a replace, cost 0.73 s of `pyreg report`'s 4.9 s at 100,000 files;
 * this way, 0.42 s (bench/README.md, "Reports at scale"). Any other indent (not a run of spaces of
 * even length) falls back to the replace.
 */
function elementsAt(indent: string): (items: unknown[]) => string {
  const inner = `${indent}  `;
  if (!/^(?: {2})*$/.test(indent)) {
    return (items) =>
      items
        .map(
          (item) =>
            `\n${inner}${((JSON.stringify(item, null, 2) as string | undefined) ?? "null").replace(/\n/g, `\n${inner}`)}`,
        )
        .join(",");
  }
  const wrap = (items: unknown[]): unknown => {
    let v: unknown = items;
    for (let i = 0; i < indent.length / 2; i++) v = [v];
    return v;
  };
  // Where the elements start and end in the wrapped text, from a wrapped sentinel element.
  const sample = JSON.stringify(wrap([0]), null, 2);
  const head = sample.indexOf(`\n${inner}0`);
  const tail = sample.length - (head + inner.length + 2);
  return (items) => {
    const t = JSON.stringify(wrap(items), null, 2);
    return t.slice(head, t.length - tail);
  };
}

/**
 * A streamed list: "[", its elements (elementsAt), then "\n" + indent + "]" (or "[]"), read a
 * batch at a time; the batches are joined into pieces of about PIECE_CHARS characters.
 */
function* streamedPieces(list: Streamed, indent: string): Generator<string> {
  const text = elementsAt(indent);
  let batch: unknown[] = [];
  // As many elements in a batch as make about PIECE_CHARS, judged by the batch before.
  let want = 1;
  let parts: string[] = [];
  let size = 0;
  let written = false;
  const take = (): void => {
    const t = text(batch);
    want = Math.max(1, Math.min(MAX_BATCH, Math.floor((PIECE_CHARS * batch.length) / Math.max(1, t.length))));
    parts.push(`${written || parts.length ? "," : "["}${t}`);
    size += t.length + 1;
    batch = [];
  };
  const piece = (): string => {
    const p = parts.join("");
    parts = [];
    size = 0;
    written = true;
    return p;
  };
  for (const item of list.items()) {
    batch.push(item);
    if (batch.length < want) continue;
    take();
    if (size >= PIECE_CHARS) yield piece();
  }
  if (batch.length) take();
  if (parts.length) yield piece();
  yield written ? `\n${indent}]` : "[]";
}
