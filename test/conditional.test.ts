/**
 * The decisions behind conditional requests: when a kept Last-Modified may be sent as
 * If-Modified-Since (RFC 9110 §8.8.2.2), and how pyreg serve compares If-None-Match (§13.1.2).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ifModifiedSince } from "../src/http/conditional.js";
import { etagMatches } from "../src/server/index.js";

describe("If-Modified-Since only from a strong Last-Modified", () => {
  const lm = "Mon, 30 Nov 2026 12:00:00 GMT";
  test("sent when the answer's Date is at least one second after Last-Modified", () => {
    assert.equal(ifModifiedSince({ lastModified: lm, date: "Mon, 30 Nov 2026 12:00:01 GMT" }), lm);
    assert.equal(ifModifiedSince({ lastModified: lm, date: "Tue, 01 Dec 2026 08:00:00 GMT" }), lm);
  });
  test("not sent when the page may have changed again within the same second", () => {
    assert.equal(ifModifiedSince({ lastModified: lm, date: lm }), undefined);
  });
  test("not sent without a Date, or with dates that do not parse", () => {
    assert.equal(ifModifiedSince({ lastModified: lm, date: null }), undefined);
    assert.equal(ifModifiedSince({ lastModified: "yesterday", date: lm }), undefined);
    assert.equal(ifModifiedSince({ lastModified: null, date: lm }), undefined);
  });
});

describe("pyreg serve: If-None-Match", () => {
  const tag = '"abc"';
  test("matches the tag, a list holding it, a weak form of it, and *", () => {
    assert.equal(etagMatches('"abc"', tag), true);
    assert.equal(etagMatches('"x", "abc"', tag), true);
    assert.equal(etagMatches('W/"abc"', tag), true);
    assert.equal(etagMatches("*", tag), true);
  });
  test("does not match another tag, or nothing", () => {
    assert.equal(etagMatches('"abcd"', tag), false);
    assert.equal(etagMatches(undefined, tag), false);
    assert.equal(etagMatches("", tag), false);
  });
});
