/**
 * The local development federation: three hospitals on 127.0.0.1, each its own process
 * (`npx fedrouter launch --hospital hospital-a`), talking over mutually authenticated gRPC.
 * Certificates come from `npx fedrouter keys init` (written to keys/, never committed).
 */
import { defineCluster } from "./bin/cluster/config.ts";

export default defineCluster({
  name: "local-dev",
  tls: { ca: "keys/ca.crt", operators: ["operator"] },
  hospitals: [
    {
      id: "hospital-a",
      region: "eu-west",
      address: "127.0.0.1:7101",
      admin: "127.0.0.1:7201",
      actors: [{ name: "accountant" }, { name: "visits" }, { name: "tally", placement: "worker" }],
    },
    {
      id: "hospital-b",
      region: "eu-west",
      address: "127.0.0.1:7102",
      admin: "127.0.0.1:7202",
      actors: [{ name: "accountant" }, { name: "visits" }, { name: "hasher", placement: "pool", poolThreads: 1 }],
    },
    {
      id: "hospital-c",
      region: "eu-central",
      address: "127.0.0.1:7103",
      admin: "127.0.0.1:7203",
      actors: [{ name: "accountant" }, { name: "visits" }, { name: "tally", placement: "worker" }],
    },
  ],
  privacy: {
    delta: 1e-5,
    departments: { emergency: 20, cardiology: 15, radiology: 10, general: 5, research: 2 },
    reset: "monthly",
    timeZone: "UTC",
  },
});
