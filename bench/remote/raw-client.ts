/**
 * The client side of the floors: bare grpc-js to bench/remote/raw-server.ts, over the same
 * kind of channel the transport opens (insecure, or mutual TLS with the server's identity
 * checked against its certificate's CN and the target name overridden to it).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Packr, Unpackr } from "msgpackr";
import type { Tally } from "../runtime/message.ts";
import { RAW_SERVER_ID, rawBenchService, type RawFrame } from "./raw-proto.ts";

export interface RawClient {
  /** Writes one batch frame on the stream; false: wait for drained() before writing more. */
  send(batch: Buffer): boolean;
  drained(): Promise<void>;
  /** The server's tally, asked on the same stream after everything written before. */
  query(sent: number): Promise<Tally>;
  /** One round trip of `msg` (msgpack) on the open stream, answered decoded. */
  streamEcho<T>(msg: unknown): Promise<T>;
  /** One unary Echo call of `msg` (msgpack), answered decoded. */
  unaryEcho<T>(msg: unknown): Promise<T>;
  close(): void;
}

export async function connectRaw(address: string, mode: "insecure" | "mtls", keys: string, clientId: string): Promise<RawClient> {
  const RawBench = rawBenchService();
  const credentials = mode === "insecure"
    ? grpc.credentials.createInsecure()
    : grpc.credentials.createSsl(readFileSync(join(keys, "ca.crt")), readFileSync(join(keys, `${clientId}.key`)), readFileSync(join(keys, `${clientId}.crt`)), {
      checkServerIdentity: (_host, cert) => (cert.subject?.CN === RAW_SERVER_ID ? undefined : new Error(`server is not ${RAW_SERVER_ID}`)),
    });
  const client = new RawBench(address, credentials, mode === "mtls" ? { "grpc.ssl_target_name_override": RAW_SERVER_ID, "grpc.default_authority": RAW_SERVER_ID } : {});
  type Unary = (req: RawFrame, cb: (error: grpc.ServiceError | null, res?: RawFrame) => void) => void;
  const stub = client as unknown as { Connect(): grpc.ClientDuplexStream<RawFrame, RawFrame>; Echo: Unary };
  const call = stub.Connect();
  const packr = new Packr({ useRecords: true });
  const unpackr = new Unpackr({ useRecords: true });
  let failure: Error | undefined;
  // One request on the stream at a time: the next frame from the server answers it.
  let waiting: { resolve: (frame: RawFrame) => void; reject: (error: Error) => void } | undefined;
  const fail = (error: Error) => {
    failure ??= error;
    const w = waiting;
    waiting = undefined;
    w?.reject(error);
  };
  call.on("data", (frame: RawFrame) => {
    const w = waiting;
    waiting = undefined;
    w?.resolve(frame);
  });
  call.on("error", fail);
  call.on("end", () => fail(new Error("raw stream ended")));
  const request = (frame: RawFrame) =>
    new Promise<RawFrame>((resolve, reject) => {
      if (failure) return reject(failure);
      waiting = { resolve, reject };
      call.write(frame);
    });

  const raw: RawClient = {
    send: (batch) => call.write({ batch }),
    drained: () => new Promise((resolve) => call.once("drain", resolve)),
    query: async (sent) => unpackr.unpack((await request({ query: { sent } })).batch!) as Tally,
    streamEcho: async <T>(msg: unknown) => unpackr.unpack((await request({ echo: Buffer.from(packr.pack(msg)) })).echo!) as T,
    unaryEcho: <T>(msg: unknown) =>
      new Promise<T>((resolve, reject) => {
        stub.Echo({ batch: Buffer.from(packr.pack(msg)) }, (error, res) => (error ? reject(error) : resolve(unpackr.unpack(res!.batch!) as T)));
      }),
    close() {
      call.end();
      client.close();
    },
  };
  await raw.query(0); // connected (and the TLS handshake done) before anything is timed
  await raw.unaryEcho({ type: "echo", n: 0, label: "" });
  return raw;
}
