/**
 * The models this front door serves, as OpenAI lists them: `GET /v1/models` answers
 * `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}` and
 * `GET /v1/models/{id}` one of them. The ids listed are exactly the `model` values the completion
 * endpoints accept; any other is OpenAI's 404 (`code: "model_not_found"`) in our error table's shape.
 *
 *   const models = servedModels(undefined, Date.now());   // [{ id: "fedrouter", … }]
 *   servedModel(models, "gpt-4o");                        // throws ModelNotFoundError
 */
import type { FastifyInstance } from "fastify";
import { NotFoundError } from "./errors.ts";

/** The id the front door serves when it is given none: the federation's model. */
export const DEFAULT_MODEL_ID = "fedrouter";

export interface ServedModel {
  readonly id: string;
  /** OpenAI's `created`: Unix seconds (the front door gives its model directory's). */
  readonly createdSeconds: number;
  /** OpenAI's `owned_by` (the front door gives the cluster's name). */
  readonly ownedBy: string;
}

/** A model id nobody serves here: 404 not_found, with OpenAI's `param` and `code`. */
export class ModelNotFoundError extends NotFoundError {
  constructor(readonly model: string, served: readonly ServedModel[]) {
    super(`model ${JSON.stringify(model.slice(0, 128))} is not served here; GET /v1/models lists the ones that are: ${served.map((m) => m.id).join(", ")}`);
  }
  override fields(): Record<string, unknown> {
    return { param: "model", code: "model_not_found" };
  }
}

/** The models given, or the default one created at `nowMs`; ids must be distinct. */
export function servedModels(given: readonly ServedModel[] | undefined, nowMs: number): readonly ServedModel[] {
  const models = given ?? [{ id: DEFAULT_MODEL_ID, createdSeconds: Math.floor(nowMs / 1000), ownedBy: "fedrouter" }];
  if (models.length === 0) throw new RangeError("the front door must serve at least one model");
  const ids = new Set(models.map((m) => m.id));
  if (ids.size !== models.length) throw new RangeError(`model ids must be distinct: ${models.map((m) => m.id).join(", ")}`);
  return models;
}

/** The model named `id`, or ModelNotFoundError. */
export function servedModel(models: readonly ServedModel[], id: string): ServedModel {
  const model = models.find((m) => m.id === id);
  if (model === undefined) throw new ModelNotFoundError(id, models);
  return model;
}

function modelObject(model: ServedModel): Record<string, unknown> {
  return { id: model.id, object: "model", created: model.createdSeconds, owned_by: model.ownedBy };
}

/** `GET /v1/models` and `GET /v1/models/:id`, for any valid token (as at OpenAI). */
export function registerModelRoutes(app: FastifyInstance, models: readonly ServedModel[]): void {
  app.get("/v1/models", { config: { auth: "any" } }, async () => ({ object: "list", data: models.map(modelObject) }));
  app.get<{ Params: { id: string } }>("/v1/models/:id", { config: { auth: "any" } }, async (request) => modelObject(servedModel(models, request.params.id)));
}
