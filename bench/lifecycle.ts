/**
 * The request hot path: `listPodsByModel` + `addRequestCount` +
 * `doneRequestCount` with a routed context, 100 pods and 10 models, through the
 * services in one `Effect.gen` loop and on the plain store.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Effect } from "effect"
import { initForTest } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, FleetStore, PodCache, RequestTracker, RoutingContext } from "../src/index.ts"
import { makeContexts, makePods } from "./fleet.ts"
import { opsPerSecond, printComparison, printFigure } from "./report.ts"

const BATCH = 100_000

const throughServices = (pods: ReadonlyArray<V1Pod>, contexts: ReadonlyArray<RoutingContext>): number =>
  Effect.runSync(Effect.gen(function*() {
    const writer = yield* CacheWriter
    yield* writer.applyAll(pods.map((pod) => DiscoveryEvent.PodAdded({ pod })))
    const podCache = yield* PodCache
    const tracker = yield* RequestTracker
    const lifecycles = Effect.gen(function*() {
      for (let i = 0; i < BATCH; i++) {
        const ctx = contexts[i & 1023]!
        yield* podCache.listPodsByModel(ctx.model)
        const term = yield* tracker.addRequestCount(ctx, ctx.requestId, ctx.model)
        yield* tracker.doneRequestCount(ctx, ctx.requestId, ctx.model, term)
      }
    })
    return opsPerSecond(() => Effect.runSync(lifecycles), BATCH)
  }).pipe(Effect.provide(initForTest)))

const onPlainStore = (pods: ReadonlyArray<V1Pod>, contexts: ReadonlyArray<RoutingContext>): number => {
  const store = new FleetStore()
  for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
  return opsPerSecond(() => {
    for (let i = 0; i < BATCH; i++) {
      const ctx = contexts[i & 1023]!
      store.podList(ctx.model)
      const term = store.addRequest(ctx, ctx.requestId, ctx.model)
      store.doneRequest(ctx.requestId, term)
    }
  }, BATCH)
}

export const run = (): void => {
  const pods = makePods()
  const contexts = makeContexts(pods)
  const services = throughServices(pods, contexts)
  const plain = onPlainStore(pods, contexts)
  printFigure("request lifecycle through the services", services, "lifecycles/s", ">= 1,000,000")
  printComparison("request lifecycle", { label: "services", value: services }, { label: "plain store", value: plain }, "lifecycles/s")
}
