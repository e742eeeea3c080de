/**
 * The bare worker of the raw floors: no runtime, one MessagePort from workerData.
 * - mode "count": a Uint8Array is a msgpack batch of AddMsg to decode and count; anything
 *   else is a query, answered with the tally.
 * - mode "echo": posts every message back as it came.
 */
import { workerData, type MessagePort } from "node:worker_threads";
import { Unpackr } from "msgpackr";
import { count, type AddMsg, type Tally } from "./message.ts";

const { port, mode } = workerData as { port: MessagePort; mode: "count" | "echo" };

if (mode === "count") {
  const unpackr = new Unpackr({ useRecords: true });
  const tally: Tally = { count: 0, sum: 0 };
  port.on("message", (value: unknown) => {
    if (value instanceof Uint8Array) {
      for (const msg of unpackr.unpack(value) as AddMsg[]) count(tally, msg);
    } else {
      port.postMessage({ ...tally });
    }
  });
} else {
  port.on("message", (value: unknown) => port.postMessage(value));
}
