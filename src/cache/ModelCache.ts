import { Context, type Effect } from "effect"
import type { PodNotFound } from "../store/Errors.ts"

/** Which models and adapters the fleet serves. */
export class ModelCache extends Context.Service<
  ModelCache,
  {
    hasModel(model: string): Effect.Effect<boolean>
    readonly listModels: Effect.Effect<ReadonlyArray<string>>
    /** The pod's base model first, then its adapters. */
    listModelsByPod(name: string, namespace: string): Effect.Effect<ReadonlyArray<string>, PodNotFound>
  }
>()("aibrix-cache/ModelCache") {}
