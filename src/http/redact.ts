/** Removes credentials from anything that may be shown: URLs, messages, server answers. */
const secrets = new Set<string>();

/** Remember a secret so redactText can scrub it from any text (server answers echo things). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

/**
 * Percent-decoding that never throws: a `%` not followed by two hex digits is kept as typed, as
 * Python's urllib.parse.unquote does (pip reads URL credentials with it).
 */
export function percentDecode(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** Where the userinfo of each `scheme://user:password@host` in a text is (start and end offsets). */
export interface Userinfo {
  start: number;
  end: number;
  username: string;
  password: string;
}

/**
 * Finds URL userinfo the way pip and the WHATWG URL parser split it: the authority runs from `//`
 * to the first `/`, `?` or `#`, and the userinfo is the authority up to its LAST `@` (so a password
 * may hold an unencoded `@`, `:` or space: `http://alice:Zq@Secret 9876@host/` has the password
 * `Zq@Secret 9876`). The username ends at the first `:`.
 * (https://url.spec.whatwg.org/#authority-state; pip: src/pip/_internal/utils/misc.py
 * split_auth_from_netloc uses netloc.rpartition("@").)
 */
export function findUserinfo(text: string, oneArgument = false): Userinfo[] {
  const out: Userinfo[] = [];
  // In free text a URL ends at white space or a quote; one command-line argument is one URL, and its
  // password may hold a space.
  const authority = oneArgument ? /[^/?#\\]*/y : /[^/?#\\\s"'<>]*/y;
  // Each "://" found by indexOf, then its scheme checked backwards (RFC 3986 section 3.1: a letter,
  // then letters, digits, "+", "-" or "."). The regex /[a-z][a-z0-9+.-]*:\/\//gi found the same
  // URLs but tried a match at every letter of the text (on a report's text, 7-13 times the time of
  // this scan).
  let from = 0;
  for (let sep = text.indexOf("://", from); sep >= 0; sep = text.indexOf("://", from)) {
    if (!hasScheme(text, sep, from)) {
      from = sep + 3;
      continue;
    }
    const start = sep + 3;
    from = start;
    authority.lastIndex = start;
    authority.exec(text);
    const stop = authority.lastIndex;
    // The last "@" of this authority only: text.lastIndexOf("@", stop - 1) would search back to
    // the start of the text for each URL without one (a report's thousands of plain URLs made
    // redacting a 1 MiB batch cost over a second).
    let at = stop - 1;
    while (at >= start && text.charCodeAt(at) !== 64 /* @ */) at--;
    if (at < start) continue;
    const info = text.slice(start, at);
    const colon = info.indexOf(":");
    out.push({
      start,
      end: at,
      username: colon < 0 ? info : info.slice(0, colon),
      password: colon < 0 ? "" : info.slice(colon + 1),
    });
    from = at + 1;
  }
  return out;
}

/** Whether a scheme ends at `sep` (a letter among the scheme characters just before it, not before `from`). */
function hasScheme(text: string, sep: number, from: number): boolean {
  let letter = false;
  for (let i = sep - 1; i >= from; i--) {
    const c = text.charCodeAt(i);
    const lower = c | 0x20; // an ASCII letter in lower case
    if (lower >= 0x61 && lower <= 0x7a) letter = true;
    else if (!((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e)) break;
  }
  return letter;
}

/**
 * Registers every credential typed in URLs on the command line, in each form it can take (as
 * typed, decoded, encoded), before anything is printed or recorded. A token alone (`https://TOKEN@`)
 * is a secret too.
 */
export function registerUrlSecrets(args: readonly string[]): void {
  for (const text of args) {
    for (const u of findUserinfo(text, true)) {
      for (const [user, pass] of [
        [u.username, u.password],
        [percentDecode(u.username), percentDecode(u.password)],
      ] as const) {
        if (pass) {
          registerSecret(pass);
          registerSecret(`${user}:${pass}`);
        } else registerSecret(user);
      }
    }
  }
}

/** The text with the userinfo of every URL in it replaced by `***`. */
export function redactUserinfo(text: string, oneArgument = false): string {
  let out = "";
  let from = 0;
  for (const u of findUserinfo(text, oneArgument)) {
    out += text.slice(from, u.start) + "***";
    from = u.end;
  }
  return out + text.slice(from);
}

export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(String(url));
    if (u.username || u.password) {
      u.username = u.username ? "***" : "";
      u.password = u.password ? "***" : "";
    }
    for (const key of [...u.searchParams.keys()]) {
      if (/token|key|secret|password|signature|credential/i.test(key)) u.searchParams.set(key, "***");
    }
    return redactText(u.toString());
  } catch {
    return redactText(redactUserinfo(String(url), true));
  }
}

/** The form a secret takes as a URL's password (WHATWG userinfo percent-encode set). */
function asUrlPassword(s: string): string {
  try {
    const u = new URL("http://h/");
    u.password = s;
    return u.password;
  } catch {
    return s;
  }
}

export function redactText(text: string): string {
  let out = text;
  // Longest first, so that "user:password" is scrubbed whole before "password" alone.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join("***");
    const b64 = Buffer.from(s).toString("base64");
    if (b64.length >= 6 && out.includes(b64)) out = out.split(b64).join("***");
    // The forms a secret takes inside a URL (userinfo or query).
    for (const encoded of new Set([encodeURIComponent(s), asUrlPassword(s)])) {
      if (encoded !== s && out.includes(encoded)) out = out.split(encoded).join("***");
    }
  }
  return redactUserinfo(out);
}
