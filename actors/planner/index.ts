/**
 * The Planner's public face: the actor (`planner`, its protocol and a typed client), the exact
 * placement optimiser it runs (`optimalPartition`), the roster logic, and its error classes.
 * It decides where model blocks run; it holds no model weights.
 */
export { planner } from "./behaviour.ts";
export { PlannerClient } from "./client.ts";
export * from "./protocol.ts";
export { optimalPartition, checkCalibration, checkBlocks, MAX_UNORDERED_EXECUTORS, MAX_BLOCKS, MAX_COST_MS, type ExecutorCost, type Partition, type PartitionStage, type PartitionOptions } from "./partition.ts";
export { emptyRoster, joinExecutor, leaveExecutor, setBreaker, mayServe, chainOrder, planOf, statusOf, type Roster, type RosterEntry, type RosterChange } from "./roster.ts";
export { PlannerError, NoExecutors, InvalidCalibration, TooManyExecutors, UnknownExecutor, PLANNER_ERROR_CODES, type PlannerErrorCode } from "./errors.ts";
export { selectRound, checkRoundRequest, InvalidRoundRequest, MAX_ROUND_CANDIDATES, type RoundCandidate, type RoundSelectionRequest, type RoundSelection, type Exclusion, type ExclusionReason } from "./rounds.ts";
