/** Testing actors without threads: a behaviour run one message at a time, its effects recorded. */
export { BehaviorTestKit, type BehaviorTestKitOptions, type LogEntry, type RunOutcome } from "./behavior-testkit.ts";
export { TestInbox, type TestAsk } from "./test-inbox.ts";
