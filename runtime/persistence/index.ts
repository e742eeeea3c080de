/** Durable actor state on LMDB: the node store and the persistent-actor behaviour. */
export {
  openNodeStore,
  type ActorStore,
  type ActorStoreStats,
  type Durability,
  type JournalEntry,
  type NodeStore,
  type NodeStoreOptions,
  type PersistUpdate,
} from "./node-store.ts";
export { DataFileUnreadable } from "./lmdb-file.ts";
export { persistent, type PersistentDecision, type PersistentSpec } from "./persistent.ts";
