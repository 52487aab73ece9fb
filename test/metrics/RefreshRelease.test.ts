/**
 * The refresh lets go of a pod that left the store: its schedule stops and
 * nothing of the refresh (its schedule, its last page, its statistics) keeps
 * the pod's entry or object reachable.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { CacheWriter, DiscoveryEvent } from "../../src/index.ts"
import { isCollected } from "../support/garbage.ts"
import { advance, enginePage, MODEL, ok, pod, refreshing, scrapesDone, statistics } from "../support/mockRefresh.ts"

describe("the refresh and pods that leave", () => {
  it.effect("a deleted pod's schedule stops and its entry and object are let go", () =>
    Effect.gen(function* () {
      const store = yield* CacheStore
      const writer = yield* CacheWriter
      yield* scrapesDone(1)
      // Added here, so that only the store (and the refresh) ever hold it.
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: pod("p2", "10.0.0.2", { model: MODEL }) }))
      yield* advance(100, 5)
      const scraped = (yield* statistics).engine.pods.map((stats) => stats.outcomes.ok)
      assert.isTrue(scraped.length === 2 && scraped.every((ok) => ok > 0), "both pods scraped")
      const refs = (() => {
        const entry = store.podEntry("default", "p2")!
        return { entry: new WeakRef(entry), pod: new WeakRef(entry.pod) }
      })()
      yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p2" }))
      yield* advance(200, 5)
      const pods = (yield* statistics).engine.pods.map((stats) => stats.key)
      assert.deepStrictEqual(pods, ["default/p1"])
      assert.isTrue(yield* Effect.promise(() => isCollected(refs.entry)), "entry")
      assert.isTrue(yield* Effect.promise(() => isCollected(refs.pod)), "pod object")
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1", { model: MODEL })], () => ok(enginePage(1)))))
  )
})
