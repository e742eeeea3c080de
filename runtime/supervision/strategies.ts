/**
 * Which children a supervisor restarts when one fails — OTP's three strategies, as pure
 * functions over the ordered child list. The supervisor stops the affected siblings in
 * reverse start order and starts them again in start order.
 */

export type StrategyName = "one-for-one" | "one-for-all" | "rest-for-one";

export interface SupervisionStrategy {
  readonly name: StrategyName;
  /** Indexes (in start order) of the children to restart when child `failed` fails. */
  affected(failed: number, childCount: number): number[];
}

/** Only the failed child. */
export const oneForOne = {
  name: "one-for-one",
  affected: (failed: number, _childCount: number) => [failed],
} satisfies SupervisionStrategy;

/** Every child. */
export const oneForAll = {
  name: "one-for-all",
  affected: (_failed, childCount) => Array.from({ length: childCount }, (_, i) => i),
} satisfies SupervisionStrategy;

/** The failed child and every child started after it. */
export const restForOne = {
  name: "rest-for-one",
  affected: (failed, childCount) => Array.from({ length: childCount - failed }, (_, i) => failed + i),
} satisfies SupervisionStrategy;

export const STRATEGIES: Record<StrategyName, SupervisionStrategy> = {
  "one-for-one": oneForOne,
  "one-for-all": oneForAll,
  "rest-for-one": restForOne,
};

export type RestartType = "permanent" | "transient" | "temporary";
export type ExitKind = "normal" | "crash";

/** OTP: permanent always restarts, transient only after a crash, temporary never. */
export function shouldRestart(restart: RestartType, exit: ExitKind): boolean {
  if (restart === "permanent") return true;
  if (restart === "transient") return exit === "crash";
  return false;
}
