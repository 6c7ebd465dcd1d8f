import assert from "node:assert/strict";
import { test } from "node:test";
import { findUserinfo, redactText } from "../src/http/redact.js";

test("redactText: the userinfo of each URL in a long text is found within its own authority", () => {
  const plain = Array.from({ length: 2000 }, (_, i) => `http://127.0.0.1:8080/files/p${i}-1.0.tar.gz`).join(
    "\n",
  );
  const text =
    `contact admin@example.org\n${plain}\nhttp://alice:Zq@Secret 9876@host.example/simple/ and ` +
    `https://TOKEN123@gitlab.example/api/\n${plain}\nhttp://h.example/a@b?x=y@z last@word`;
  const found = findUserinfo(text);
  assert.deepEqual(
    found.map((u) => [u.username, u.password]),
    [
      // In free text a URL's authority ends at white space: the password's space ends it here.
      ["alice", "Zq"],
      ["TOKEN123", ""],
    ],
  );
  const out = redactText(text);
  assert.ok(out.includes("contact admin@example.org"), "an @ outside any URL is kept");
  assert.ok(out.includes("http://***@Secret 9876@host.example/simple/"));
  assert.ok(out.includes("https://***@gitlab.example/api/"));
  // "@" after the authority's end (in the path or the query) is no userinfo.
  assert.ok(out.includes("http://h.example/a@b?x=y@z last@word"));
  assert.equal(out.split("\n").filter((l) => l.startsWith("http://127.0.0.1:8080/files/p")).length, 4000);
});

/** The scheme search findUserinfo used before its indexOf scan: the oracle for the test below. */
function userinfoByRegex(text: string): [number, number][] {
  const out: [number, number][] = [];
  const scheme = /[a-z][a-z0-9+.-]*:\/\//gi;
  const authority = /[^/?#\\\s"'<>]*/y;
  for (let m = scheme.exec(text); m; m = scheme.exec(text)) {
    const start = m.index + m[0].length;
    authority.lastIndex = start;
    authority.exec(text);
    let at = authority.lastIndex - 1;
    while (at >= start && text.charCodeAt(at) !== 64) at--;
    if (at < start) continue;
    out.push([start, at]);
    scheme.lastIndex = at + 1;
  }
  return out;
}

test("findUserinfo finds what a scheme regex finds, in texts made of URL pieces", () => {
  // Pieces that make schemes, near-schemes, userinfo and separators collide in every order.
  const pieces = ["http", "://", "a", "1", "+", ".", "-", "@", ":", "/", " ", "X", "9z", "é", "?", "#", "'"];
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let round = 0; round < 3000; round++) {
    let text = "";
    for (let i = next(24); i >= 0; i--) text += pieces[next(pieces.length)];
    assert.deepEqual(
      findUserinfo(text).map((u) => [u.start, u.end]),
      userinfoByRegex(text),
      JSON.stringify(text),
    );
  }
});
