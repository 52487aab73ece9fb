/** The README's example, run as written. */
import { expect, it } from "vitest"
import { Effect } from "effect"
import type { V1Pod } from "@kubernetes/client-node"
import { PodCache, RequestTracker, RoutingContext } from "../src/index.ts"
import { newTestCacheWithPods } from "../layers/index.ts"

it("the README example routes to the one pod", async () => {
  const route = (model: string, requestId: string) =>
    Effect.gen(function* () {
      const pods = yield* PodCache
      const tracker = yield* RequestTracker
      const candidates = yield* pods.listPodsByModel(model) // fails with ModelNotFound
      const target = candidates.all()[0]!
      const ctx = RoutingContext.make({ model, requestId }).setTargetPod(target)
      const term = yield* tracker.addRequestCount(ctx, requestId, model)
      // ... forward the request to the target pod ...
      yield* tracker.doneRequestCount(ctx, requestId, model, term)
      return target.metadata?.name
    })

  const pod: V1Pod = {
    metadata: { name: "llama-0", namespace: "default", uid: "1" },
    status: { podIP: "10.0.0.7", conditions: [{ type: "Ready", status: "True" }] }
  }

  const name = await Effect.runPromise(
    route("llama-3-8b", "req-1").pipe(Effect.provide(newTestCacheWithPods([pod], "llama-3-8b")))
  )
  expect(name).toBe("llama-0")
})
