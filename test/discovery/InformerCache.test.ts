/**
 * What the client's informer hands out, which `KubernetesEvents` relies on:
 * by the time an update callback runs, the informer's own cache already holds
 * the new object, and a delete from the watch passes the object as deleted,
 * so the old side of `PodUpdated` cannot come from that cache and the source
 * keeps the last object per key itself.
 */
import { assert, describe, it } from "@effect/vitest"
import { CoreV1Api, makeInformer, type V1Pod } from "@kubernetes/client-node"
import { Effect } from "effect"
import { makePod } from "../support/fixtures.ts"
import { eventually, fakeKubernetes } from "../support/discovery.ts"

describe("the client's informer cache", () => {
  it.live("holds the new object when the update callback runs: the old one is gone from it", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      const first = fake.put("pods", makePod({ name: "p1", model: "m1", ip: "10.0.0.1" }))
      const kubeConfig = fake.kubeConfig()
      const api = kubeConfig.makeApiClient(CoreV1Api)
      const informer = makeInformer(kubeConfig, "/api/v1/pods", () => api.listPodForAllNamespaces())
      const cachedAtUpdate: Array<{ readonly given: V1Pod; readonly cached: V1Pod | undefined }> = []
      informer.on("update", (given) => cachedAtUpdate.push({ given, cached: informer.get("p1", "default") }))
      yield* Effect.acquireRelease(
        Effect.promise(() => informer.start()),
        () => Effect.promise(() => informer.stop())
      )
      yield* eventually(() => assert.isDefined(informer.get("p1", "default")))
      const second = fake.put("pods", makePod({ name: "p1", model: "m1", ip: "10.0.0.2" }))
      yield* eventually(() => assert.lengthOf(cachedAtUpdate, 1))
      const [{ cached, given }] = cachedAtUpdate as [(typeof cachedAtUpdate)[0]]
      assert.strictEqual(given.metadata?.resourceVersion, second.metadata?.resourceVersion)
      assert.strictEqual(cached, given, "the cache already holds the object the callback gets")
      assert.notStrictEqual(cached?.metadata?.resourceVersion, first.metadata?.resourceVersion)
    }).pipe(Effect.scoped)
  )
})
