/**
 * The request hot path: `listPodsByModel` + `addRequestCount` +
 * `doneRequestCount` with a routed context, 100 pods and 10 models, through the
 * services in one `Effect.gen` loop and on the plain store.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Effect } from "effect"
import { initForTest } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, FleetStore, PodCache, RequestTracker, RoutingContext } from "../src/index.ts"
import { opsPerSecond, printComparison, printFigure } from "./report.ts"

const POD_COUNT = 100
const MODEL_COUNT = 10
const BATCH = 100_000

const makePods = (): ReadonlyArray<V1Pod> =>
  Array.from({ length: POD_COUNT }, (_, i) => ({
    metadata: {
      name: `pod-${i}`,
      namespace: "default",
      uid: `uid-${i}`,
      labels: { "model.aibrix.ai/name": `model-${i % MODEL_COUNT}` }
    },
    status: { podIP: `10.0.${i >> 8}.${i & 255}`, conditions: [{ type: "Ready", status: "True" }] }
  }))

/** Contexts routed round-robin over the pods of their model. */
const makeContexts = (pods: ReadonlyArray<V1Pod>): ReadonlyArray<RoutingContext> =>
  Array.from({ length: 1024 }, (_, i) => {
    const pod = pods[i % POD_COUNT]!
    const model = pod.metadata!.labels!["model.aibrix.ai/name"]!
    return RoutingContext.make({ model, requestId: `request-${i}` }).setTargetPod(pod)
  })

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
