/** Removes credentials from anything that may be shown: URLs, messages, server answers. */
const secrets = new Set<string>();

/** Remember a secret so redactText can scrub it from any text (server answers echo things). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
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
    return redactText(String(url).replace(/\/\/[^/@\s]*@/, "//***@"));
  }
}

export function redactText(text: string): string {
  let out = text;
  // Longest first, so that "user:password" is scrubbed whole before "password" alone.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join("***");
    const b64 = Buffer.from(s).toString("base64");
    if (b64.length >= 6 && out.includes(b64)) out = out.split(b64).join("***");
    // The form a secret takes inside a URL (userinfo or query).
    const encoded = encodeURIComponent(s);
    if (encoded !== s && out.includes(encoded)) out = out.split(encoded).join("***");
  }
  return out.replace(/\/\/[^/@\s:]+:[^/@\s]+@/g, "//***:***@");
}
