/** Testing actors without threads: a behaviour run one message at a time, its effects recorded. */
export { BehaviorTestKit, TestInbox, type BehaviorTestKitOptions, type LogEntry, type RunOutcome, type TestAsk } from "./behavior-testkit.ts";
