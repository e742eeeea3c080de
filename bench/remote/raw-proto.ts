/** Loads bench/remote/raw.proto with @grpc/proto-loader, as runtime/remote/proto.ts loads the transport's. */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export interface RawFrame {
  batch?: Buffer;
  query?: { sent: number };
  echo?: Buffer;
  body?: "batch" | "query" | "echo";
}

const PROTO = fileURLToPath(new URL("./raw.proto", import.meta.url));

/** The RawBench client constructor (its `.service` is the server definition); the transport's loader options. */
export function rawBenchService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { fedrouter: { bench: { v1: { RawBench: grpc.ServiceClientConstructor } } } };
  return pkg.fedrouter.bench.v1.RawBench;
}

/** The node id in the raw server's certificate (its CN), checked by the client like the transport checks a peer. */
export const RAW_SERVER_ID = "raw-server";
