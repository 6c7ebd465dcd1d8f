/**
 * zod, through its smaller API (zod/mini, https://zod.dev/packages/mini: functions such as
 * `z.optional(s)` and `s.check(z.minLength(1))` in place of methods), with zod's English messages,
 * which zod/mini loads only when asked (the same texts zod's full API gives, checked by
 * test/parsers.test.ts).
 *
 * Why not the full API: it is one module graph that a bundler cannot trim, 583 KB of the CLI's
 * bundle, evaluated by every pyreg process at start-up. Measured on the 2-core test machine (a
 * bundle of one schema each, user + system CPU of `node FILE` averaged over six runs): zod 0.192 s,
 * zod/mini 0.138 s, an empty module 0.135 s; zod/mini with the English messages is 31 KB.
 */
import { config } from "zod/mini";
import { en } from "zod/locales";

config(en());

// Named one by one: a namespace passed on whole (`export * as z`) would keep all of zod in the
// bundle, its 40 locales included. Users write `import * as z from "…/core/zod.js"`.
export {
  array,
  boolean,
  int,
  literal,
  looseObject,
  minLength,
  nonnegative,
  nullish,
  number,
  object,
  optional,
  record,
  string,
  union,
  unknown,
} from "zod/mini";
export type { infer, ZodMiniType } from "zod/mini";

/** The first problems zod found, as `path: message` (the path `(root)` when empty). */
export function problems(
  err: { issues: readonly { path: readonly PropertyKey[]; message: string }[] },
  max = 1,
): string {
  const shown = err.issues
    .slice(0, max)
    .map((i) => `${i.path.map(String).join(".") || "(root)"}: ${i.message}`);
  return shown.length > 0 ? shown.join("; ") : "invalid";
}
