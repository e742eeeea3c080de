/**
 * The bare grpc-js server of the remote suite's floors, run as a child process:
 *   node --import tsx bench/remote/raw-server.ts <insecure|mtls> [keysDir]
 * It listens on a free loopback port and prints "raw-server listening on 127.0.0.1:<port>".
 * - Connect (bidi stream): every batch is a msgpack array of AddMsg, decoded and counted;
 *   a query is answered on the stream with the tally, msgpack-encoded; an echo is decoded
 *   and answered on the stream with the same fields re-encoded.
 * - Echo (unary): decodes the message and answers the same fields, re-encoded.
 * No runtime: grpc-js, proto-loader and msgpackr only. It stops on SIGTERM, or when its
 * parent goes away (stdin closes).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Packr, Unpackr } from "msgpackr";
import { count, type AddMsg, type Tally } from "../runtime/message.ts";
import { RAW_SERVER_ID, rawBenchService, type RawFrame } from "./raw-proto.ts";

const [mode, keys] = process.argv.slice(2);
if (mode !== "insecure" && mode !== "mtls") throw new Error("usage: raw-server.ts <insecure|mtls> [keysDir]");

grpc.setLogVerbosity(grpc.logVerbosity.NONE);
const unpackr = new Unpackr({ useRecords: true });
const packr = new Packr({ useRecords: true });
const tally: Tally = { count: 0, sum: 0 };

/** What the echo actor does: the same fields, as a new message. */
function echoed(bytes: Buffer): Buffer {
  const msg = unpackr.unpack(bytes) as AddMsg;
  return Buffer.from(packr.pack({ type: msg.type, n: msg.n, label: msg.label }));
}

const server = new grpc.Server();
server.addService(rawBenchService().service, {
  Connect(call: grpc.ServerDuplexStream<RawFrame, RawFrame>) {
    call.on("data", (frame: RawFrame) => {
      if (frame.batch !== undefined) {
        for (const msg of unpackr.unpack(frame.batch) as AddMsg[]) count(tally, msg);
      } else if (frame.echo !== undefined) {
        call.write({ echo: echoed(frame.echo) });
      } else {
        call.write({ batch: Buffer.from(packr.pack({ ...tally })) });
      }
    });
    call.on("error", () => undefined);
    call.on("end", () => call.end());
  },
  Echo(call: grpc.ServerUnaryCall<RawFrame, RawFrame>, callback: grpc.sendUnaryData<RawFrame>) {
    callback(null, { batch: echoed(call.request.batch!) });
  },
});

const credentials = mode === "insecure"
  ? grpc.ServerCredentials.createInsecure()
  : grpc.ServerCredentials.createSsl(readFileSync(join(keys!, "ca.crt")), [{
    cert_chain: readFileSync(join(keys!, `${RAW_SERVER_ID}.crt`)),
    private_key: readFileSync(join(keys!, `${RAW_SERVER_ID}.key`)),
  }], true);

server.bindAsync("127.0.0.1:0", credentials, (error, port) => {
  if (error) throw error;
  process.stdout.write(`raw-server listening on 127.0.0.1:${port} (${mode})\n`);
});

const stop = () => {
  server.forceShutdown();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
process.stdin.on("end", stop).on("error", stop).resume();
