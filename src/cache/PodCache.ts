import type { V1Pod } from "@kubernetes/client-node"
import { Context, type Effect } from "effect"
import type { ModelNotFound, PodNotFound } from "../store/Errors.ts"
import type { PodList } from "../store/PodList.ts"

/** Which pods the fleet has, by key and by model. */
export class PodCache extends Context.Service<
  PodCache,
  {
    /** The pod object exactly as discovered (the same reference). */
    getPod(name: string, namespace: string): Effect.Effect<V1Pod, PodNotFound>
    /** Every pod mapped to the model or adapter, ready or not: routers filter. */
    listPodsByModel(model: string): Effect.Effect<PodList, ModelNotFound>
    /** Every tracked pod (for debugging). */
    readonly listPods: Effect.Effect<ReadonlyArray<V1Pod>>
  }
>()("aibrix-cache/PodCache") {}
