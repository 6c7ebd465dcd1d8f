/** TOML reading for lock files (smol-toml, a TOML 1.0 parser) and typed access with clear errors. */
import { parse, TomlError } from "smol-toml";
import { PyregError } from "../errors.js";

export type Table = Record<string, unknown>;

export function parseToml(text: string, path: string): Table {
  try {
    return parse(text) as Table;
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : "";
    throw new PyregError(
      "CONFIG",
      `${path} is not valid TOML${where}: ${(err as Error).message.split("\n")[0]}`,
      {
        hint: "give the lock file as the tool wrote it",
      },
    );
  }
}

export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Reads typed values from a TOML table, naming the file and place in every error. */
export class Reader {
  constructor(
    readonly path: string,
    readonly where: string,
    readonly table: Table,
  ) {}

  private bad(key: string, what: string): PyregError {
    return new PyregError("CONFIG", `${this.path}: ${this.where}: "${key}" must be ${what}`, {
      hint: "is this lock file complete and written by the tool itself?",
    });
  }

  str(key: string): string | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw this.bad(key, "a string");
    return v;
  }

  needStr(key: string): string {
    const v = this.str(key);
    if (v === undefined) throw this.bad(key, "present (a string)");
    return v;
  }

  int(key: string): number | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (typeof v === "bigint") return Number(v);
    if (typeof v !== "number") throw this.bad(key, "a number");
    return v;
  }

  table_(key: string): Reader | undefined {
    const v = this.table[key];
    if (v === undefined) return undefined;
    if (!isTable(v)) throw this.bad(key, "a table");
    return new Reader(this.path, `${this.where}.${key}`, v);
  }

  tables(key: string): Reader[] {
    const v = this.table[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every(isTable)) throw this.bad(key, "an array of tables");
    return v.map((t, i) => new Reader(this.path, `${this.where}.${key}[${i}]`, t));
  }

  has(key: string): boolean {
    return this.table[key] !== undefined;
  }
}
