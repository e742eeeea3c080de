// Boots a worker thread: registers tsx when the runtime runs from TypeScript sources (Node 20
// does not apply --import hooks to a worker's entry), then loads the real entry module.
import { workerData } from "node:worker_threads";

if (workerData.entry.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
}
await import(workerData.entry);
