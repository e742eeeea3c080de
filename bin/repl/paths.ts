/**
 * Actor paths as an operator types them. Three forms are accepted:
 *   `fed://node-a/user/core/counter`  a full path (any node, as the Admin service expects);
 *   `user/core/counter`                relative to the node ("user" alone is the root guardian);
 *   `core/counter`                     relative to the user guardian (the form the REPL shows).
 * So an actor named "user" directly under the root must be written `user/user`.
 */
import { InvalidArgument, InvalidPath } from "../../runtime/index.ts";
import type { WireActorInfo } from "../../runtime/remote/admin-proto.ts";

/** The full path of what the operator typed; needs the node's name for the short forms. */
export function resolvePath(input: string, node: string | undefined): string {
  const typed = input.trim();
  if (typed.startsWith("fed://")) return typed;
  if (typed.length === 0) throw new InvalidArgument("path", "none given (.actors lists them)");
  if (node === undefined) throw new InvalidPath(typed, "the node's name is not known yet, so give a full path");
  const relative = typed.replace(/^\/+/, "");
  if (relative === "user" || relative.startsWith("user/")) return `fed://${node}/${relative}`;
  return `fed://${node}/user/${relative}`;
}

/** The shortest form that resolves back to `path` on `node`. */
export function displayPath(path: string, node: string | undefined): string {
  if (node === undefined) return path;
  const guardian = `fed://${node}/user`;
  if (path === guardian) return "user";
  if (!path.startsWith(`${guardian}/`)) return path;
  const relative = path.slice(guardian.length + 1);
  return relative === "user" || relative.startsWith("user/") ? `user/${relative}` : relative;
}

/** The node a path belongs to: fed://node-a/user → node-a. */
export function nodeOf(path: string): string | undefined {
  return /^fed:\/\/([^/]+)\//.exec(path)?.[1];
}

/** Every path in the tree, root first, depth-first in start order. */
export function flattenTree(root: WireActorInfo): { info: WireActorInfo; depth: number }[] {
  const out: { info: WireActorInfo; depth: number }[] = [];
  const visit = (info: WireActorInfo, depth: number) => {
    out.push({ info, depth });
    for (const child of info.children ?? []) visit(child, depth + 1);
  };
  visit(root, 0);
  return out;
}

/** Completions of `fragment` among `paths`, in the form the operator started typing. */
export function completePath(fragment: string, paths: readonly string[], node: string | undefined): string[] {
  const forms = paths.map((path) => {
    if (fragment.startsWith("fed://") || node === undefined) return path;
    const short = displayPath(path, node);
    return fragment.startsWith("user") && !short.startsWith("user") ? `user/${short}` : short;
  });
  return [...new Set(forms)].filter((form) => form.startsWith(fragment)).sort();
}
