/** The operator's REPL over a node's Admin service: `runRepl`, its client and its path rules. */
export { runRepl, DEFAULT_REPL, type ReplOptions } from "./repl.ts";
export { AdminClient, DEFAULT_ADMIN_CLIENT, describeFailure, type AdminClientOptions, type Following } from "./admin-client.ts";
export { resolvePath, displayPath, completePath } from "./paths.ts";
export { formatTable } from "./format.ts";
