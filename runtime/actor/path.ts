/** Actor paths: `fed://<node>/<segment>/…`. Parsing never throws anything but InvalidPath. */
import { InvalidPath } from "../errors.ts";

export const PATH_SCHEME = "fed://";
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface ParsedPath {
  readonly node: string;
  readonly segments: readonly string[];
}

export function parsePath(path: string): ParsedPath {
  if (typeof path !== "string" || !path.startsWith(PATH_SCHEME)) throw new InvalidPath(String(path), "missing fed:// scheme");
  if (path.length > 1024) throw new InvalidPath(path.slice(0, 64) + "…", "longer than 1024 characters");
  const [node, ...segments] = path.slice(PATH_SCHEME.length).split("/");
  if (!node || !SEGMENT.test(node)) throw new InvalidPath(path, `node name "${node ?? ""}" is not [A-Za-z0-9._-]`);
  if (segments.length === 0) throw new InvalidPath(path, "no actor segment after the node");
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) throw new InvalidPath(path, `segment "${segment}" is empty or has characters outside [A-Za-z0-9._-]`);
  }
  return { node, segments };
}

export function formatPath(node: string, ...segments: string[]): string {
  const path = `${PATH_SCHEME}${node}/${segments.join("/")}`;
  parsePath(path);
  return path;
}

export function isValidName(name: string): boolean {
  return SEGMENT.test(name);
}
