/**
 * The request hot path: `listPodsByModel` + `addRequestCount` +
 * `doneRequestCount` with a routed context, 100 pods and 10 models, through the
 * services in one `Effect.gen` loop and on the plain store. The two run in
 * alternate rounds and each keeps its best, so that a spell of load on the
 * machine falls on both alike.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Effect } from "effect"
import { initForTest } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, PodCache, RequestTracker, type RoutingContext } from "../src/index.ts"
import { FleetStore } from "../src/store/FleetStore.ts"
import { makeContexts, makePods } from "./fleet.ts"
import { opsPerSecond, printComparison, printFigure } from "./report.ts"

const BATCH = 100_000
const ROUNDS = 10

/** One batch of lifecycles through the services of a fresh test cache. */
const throughServices = (pods: ReadonlyArray<V1Pod>, contexts: ReadonlyArray<RoutingContext>): (() => void) =>
  Effect.runSync(
    Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* writer.applyAll(pods.map((pod) => DiscoveryEvent.PodAdded({ pod })))
      const podCache = yield* PodCache
      const tracker = yield* RequestTracker
      const lifecycles = Effect.gen(function* () {
        for (let i = 0; i < BATCH; i++) {
          const ctx = contexts[i & 1023]!
          yield* podCache.listPodsByModel(ctx.model)
          const term = yield* tracker.addRequestCount(ctx, ctx.requestId, ctx.model)
          yield* tracker.doneRequestCount(ctx, ctx.requestId, ctx.model, term)
        }
      })
      return () => Effect.runSync(lifecycles)
    }).pipe(Effect.provide(initForTest))
  )

/** The same batch as plain calls on a store. */
const onPlainStore = (pods: ReadonlyArray<V1Pod>, contexts: ReadonlyArray<RoutingContext>): (() => void) => {
  const store = new FleetStore()
  for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
  return () => {
    for (let i = 0; i < BATCH; i++) {
      const ctx = contexts[i & 1023]!
      store.podList(ctx.model)
      const term = store.addRequest(ctx, ctx.requestId, ctx.model, Date.now())
      store.doneRequest(ctx.requestId, term)
    }
  }
}

export const run = (): void => {
  const pods = makePods()
  const contexts = makeContexts(pods)
  const services = throughServices(pods, contexts)
  const plain = onPlainStore(pods, contexts)
  let best = { services: 0, plain: 0 }
  for (let round = 0; round < ROUNDS; round++) {
    best = {
      services: Math.max(best.services, opsPerSecond(services, BATCH, 1)),
      plain: Math.max(best.plain, opsPerSecond(plain, BATCH, 1))
    }
  }
  printFigure("request lifecycle through the services", best.services, "lifecycles/s", ">= 1,000,000")
  printComparison(
    "request lifecycle",
    { label: "services", value: best.services },
    { label: "plain store", value: best.plain },
    "lifecycles/s"
  )
}
