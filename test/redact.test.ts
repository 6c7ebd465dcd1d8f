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
