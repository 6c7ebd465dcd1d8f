/**
 * jsonPieces: the pieces joined are exactly JSON.stringify(value, null, 2) of the same value with
 * its streamed lists as arrays, at any nesting, and no piece grows with the list.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { jsonPieces, Streamed } from "../src/core/jsonPieces.js";

/** The value with every Streamed list read into an array (what the text must equal). */
function plain(value: unknown): unknown {
  if (value instanceof Streamed) return [...value.items()].map(plain);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object" && !(value instanceof Date))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const element = (i: number): unknown => ({
  project: `p-${i % 7}`,
  filename: `p_${i % 7}-1.${i}.0-py3-none-any.whl`,
  size: i * 1000,
  reason: i % 5 ? `line one\nline "two" ${i}` : undefined,
  nested: { list: [i, null, { deep: [`x${i}`] }], empty: [], none: {} },
  when: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)),
  skipped: () => i,
});

describe("jsonPieces", () => {
  test("streamed lists at every depth read as JSON.stringify(value, null, 2)", () => {
    for (const n of [0, 1, 2, 17, 300, 3000]) {
      const items = (): unknown[] => [
        ...Array.from({ length: n }, (_, i) => element(i)),
        ...(n ? [undefined, "a\nb", 3, null, [1, [2, [3]]]] : []),
      ];
      // Streamed lists where the callers put them: values of the objects the depth reaches; and
      // a list in memory at the last depth (stringified a slice at a time, as the report's runs).
      const value = {
        top: new Streamed(items),
        inside: { deeper: new Streamed(items), list: [1, 2], empty: new Streamed(() => []) },
        rows: [...items(), () => 1],
      };
      const want = JSON.stringify(plain(value), null, 2);
      assert.equal([...jsonPieces(value, "", 2)].join(""), want, `n=${n}`);
      const inList = { ...value, withLists: [new Streamed(items), { one: new Streamed(items) }] };
      assert.equal(
        [...jsonPieces(inList, "", 3)].join(""),
        JSON.stringify(plain(inList), null, 2),
        `n=${n}, depth 3`,
      );
      // Inside an enclosing document, at its indent (even and odd, and not spaces at all).
      for (const indent of ["  ", "      ", "   ", "\t"]) {
        const got = [...jsonPieces(value, indent, 2)].join("");
        assert.equal(got, want.replace(/\n/g, `\n${indent}`), `n=${n}, indent ${JSON.stringify(indent)}`);
      }
    }
  });

  test("pieces stay small however long the list, and one large element is a piece of its own", () => {
    const many = new Streamed(() => Array.from({ length: 20_000 }, (_, i) => element(i)));
    const pieces = [...jsonPieces({ many }, "", 2)];
    const longest = Math.max(...pieces.map((p) => p.length));
    assert.ok(pieces.length > 100, `${pieces.length} pieces`);
    assert.ok(longest < 64 << 10, `longest piece ${longest} characters`);
    const big = "x".repeat(200_000);
    const mixed = new Streamed(() => [{ a: 1 }, { big }, { b: 2 }, { big }, { c: 3 }]);
    const text = [...jsonPieces({ mixed }, "", 2)].join("");
    assert.equal(text, JSON.stringify({ mixed: [{ a: 1 }, { big }, { b: 2 }, { big }, { c: 3 }] }, null, 2));
  });
});
