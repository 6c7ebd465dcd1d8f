/**
 * The netrc file (man 5 netrc), read the way Python's `netrc` module reads it (CPython
 * Lib/netrc.py, 3.10+), which is what pip and requests use: a character tokenizer where a token is
 * a run of non-whitespace or a double-quoted string, a backslash escapes the next character, `#`
 * starts a comment to the end of the line, `macdef NAME` swallows lines up to an empty line, and a
 * later entry for the same machine replaces an earlier one.
 */
export interface NetrcEntry {
  login: string;
  account: string;
  password: string;
}

export interface Netrc {
  /** machine name → entry; the `default` entry is under the key "default" (as in Python). */
  hosts: Map<string, NetrcEntry>;
  macros: Map<string, string[]>;
}

export class NetrcParseError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`${message} (line ${line})`);
  }
}

const WHITESPACE = new Set(["\n", "\t", "\r", " "]);

class Lexer {
  pos = 0;
  line = 1;
  private readonly pushback: string[] = [];
  constructor(private readonly text: string) {}

  private read(): string {
    if (this.pos >= this.text.length) return "";
    const ch = this.text[this.pos++] as string;
    if (ch === "\n") this.line++;
    return ch;
  }

  /** The rest of the current line, with its newline (Python's readline()). */
  readLine(): string {
    const end = this.text.indexOf("\n", this.pos);
    const stop = end < 0 ? this.text.length : end + 1;
    const line = this.text.slice(this.pos, stop);
    this.pos = stop;
    if (end >= 0) this.line++;
    return line;
  }

  push(token: string): void {
    this.pushback.push(token);
  }

  /** The next token, "" at the end of the text. */
  token(): string {
    const back = this.pushback.shift();
    if (back !== undefined) return back;
    let token = "";
    for (let ch = this.read(); ch !== ""; ch = this.read()) {
      if (WHITESPACE.has(ch)) continue;
      if (ch === '"') {
        for (ch = this.read(); ch !== ""; ch = this.read()) {
          if (ch === '"') return token;
          if (ch === "\\") ch = this.read();
          token += ch;
        }
        return token;
      }
      if (ch === "\\") ch = this.read();
      token += ch;
      for (ch = this.read(); ch !== ""; ch = this.read()) {
        if (WHITESPACE.has(ch)) return token;
        if (ch === "\\") ch = this.read();
        token += ch;
      }
      return token;
    }
    return token;
  }
}

/** Parses a netrc text; throws NetrcParseError where Python's netrc raises NetrcParseError. */
export function parseNetrc(text: string): Netrc {
  const lex = new Lexer(text);
  const hosts = new Map<string, NetrcEntry>();
  const macros = new Map<string, string[]>();
  for (;;) {
    const savedLine = lex.line;
    const top = lex.token();
    if (!top) break;
    let name: string;
    if (top.startsWith("#")) {
      // A lone "#" token: the rest of its line is a comment (a "#word" token ends at whitespace).
      if (lex.line === savedLine && top.length === 1) lex.readLine();
      continue;
    } else if (top === "machine") {
      name = lex.token();
    } else if (top === "default") {
      name = "default";
    } else if (top === "macdef") {
      const macro = lex.token();
      const lines: string[] = [];
      for (;;) {
        const line = lex.readLine();
        if (!line) throw new NetrcParseError("macro definition missing null line terminator", lex.line);
        if (line === "\n") break;
        lines.push(line);
      }
      macros.set(macro, lines);
      continue;
    } else {
      throw new NetrcParseError(`bad toplevel token "${top}"`, lex.line);
    }
    if (!name) throw new NetrcParseError(`missing "${top}" name`, lex.line);
    const entry: NetrcEntry = { login: "", account: "", password: "" };
    for (;;) {
      const prevLine = lex.line;
      const t = lex.token();
      if (t.startsWith("#")) {
        if (lex.line === prevLine) lex.readLine();
        continue;
      }
      if (t === "" || t === "machine" || t === "default" || t === "macdef") {
        hosts.set(name, entry);
        lex.push(t);
        break;
      }
      if (t === "login" || t === "user") entry.login = lex.token();
      else if (t === "account") entry.account = lex.token();
      else if (t === "password") entry.password = lex.token();
      else throw new NetrcParseError(`bad follower token "${t}"`, lex.line);
    }
  }
  return { hosts, macros };
}

/** Python's netrc.authenticators(host): the machine's entry, else the default one. */
export function netrcAuthenticators(n: Netrc, host: string): NetrcEntry | undefined {
  return n.hosts.get(host) ?? n.hosts.get("default");
}
