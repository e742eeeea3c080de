// comlink ships its Node adapter as an .mjs file without a matching declaration path.
declare module "comlink/dist/esm/node-adapter.mjs" {
  import type { Endpoint } from "comlink";
  export default function nodeEndpoint(port: unknown): Endpoint;
}
