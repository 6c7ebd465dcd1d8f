/**
 * The one explicit map of registry kinds. Order matters: the first kind
 * whose `matches` accepts a spec wins; forced kinds (`gitlab+https://...`) match only their own.
 * The generic "simple" kind (any PEP 503/691 index / legacy upload URL) is last.
 */
import { PyregError } from "../core/errors.js";
import type { Destination, Source } from "../core/model.js";
import { folderKind } from "./folder/index.js";
import { gitlabKind } from "./gitlab/index.js";
import { simpleKind } from "./simple/index.js";
import { garKind } from "./gar/index.js";
import { codeartifactKind } from "./codeartifact/index.js";
import { recipeKinds } from "./recipes/index.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "./types.js";

export const KINDS: readonly RegistryKind[] = [
  folderKind,
  // kinds recognized by host or forced prefix go here, before the generic one
  gitlabKind,
  garKind,
  codeartifactKind,
  ...recipeKinds,
  simpleKind,
];

export function kindFor(spec: RegistrySpec): RegistryKind {
  if (spec.forcedKind) {
    const k = KINDS.find((k) => k.name === spec.forcedKind);
    if (!k) {
      throw new PyregError("USAGE", `unknown registry kind "${spec.forcedKind}" in ${spec.display}`, {
        hint: `known kinds: ${KINDS.map((k) => k.name).join(", ")}`,
      });
    }
    return k;
  }
  const k = KINDS.find((k) => k.matches(spec));
  if (!k) throw new PyregError("USAGE", `cannot tell what kind of registry ${spec.display} is`);
  return k;
}

export async function openSource(spec: RegistrySpec, ctx: RegistryContext): Promise<Source> {
  const k = kindFor(spec);
  if (!k.openSource)
    throw new PyregError("USAGE", `${k.name} registries cannot be read from (${spec.display})`);
  return await k.openSource(spec, ctx);
}

export async function openDestination(spec: RegistrySpec, ctx: RegistryContext): Promise<Destination> {
  const k = kindFor(spec);
  if (!k.openDestination)
    throw new PyregError("USAGE", `${k.name} registries cannot be written to (${spec.display})`);
  return await k.openDestination(spec, ctx);
}
