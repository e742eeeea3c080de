/** Loads protocols/transport.proto with @grpc/proto-loader (no generated code to keep in sync). */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

export const PROTOCOL_VERSION = 1;

/** The Frame message as proto-loader hands it over (keepCase, oneofs). */
export interface WireFrame {
  handshake?: { protocol_version: number; node_id: string; max_frame_bytes: number };
  batch?: Buffer;
  close?: { reason: string };
  body?: "handshake" | "batch" | "close";
}

const PROTO = fileURLToPath(new URL("../../protocols/transport.proto", import.meta.url));

let loaded: grpc.ServiceClientConstructor | undefined;

/** The Transport service's client constructor (its `.service` is the server definition). */
export function transportService(): grpc.ServiceClientConstructor {
  if (loaded === undefined) {
    const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: false, oneofs: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { fedrouter: { transport: { v1: { Transport: grpc.ServiceClientConstructor } } } };
    loaded = pkg.fedrouter.transport.v1.Transport;
  }
  return loaded;
}
