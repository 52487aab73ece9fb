/**
 * Randomized convergence: random scripts of pod and adapter changes, with
 * watches cut mid-stream, ended cleanly, expired (410), histories compacted,
 * lists failing and events silently lost, run against the fake API server
 * while the real informers follow and relist every 100 ms. Whatever the
 * script, the store ends up showing the server's state, adapters included,
 * without touching them again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import * as fc from "fast-check"
import type { FleetStore } from "../../src/store/FleetStore.ts"
import { baseModelOf, isTracked, MODEL_LABEL, POD_GROUP_INDEX_LABEL } from "../../src/store/Pod.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { eventually, fakeKubernetes, podsServing, realSleep, startDiscovery } from "../support/discovery.ts"
import type { FakeKubernetes, ResourceName } from "../support/FakeKubernetes.ts"

const NAMES = ["p0", "p1", "p2", "p3", "p4", "p5"]
const NAMESPACES = ["default", "team"]
const ADAPTERS = ["lora-a", "lora-b", "lora-c"]

type Step =
  | {
      readonly op: "putPod"
      readonly name: string
      readonly namespace: string
      readonly model: string | undefined
      readonly uid: string
      readonly ip: string
      readonly ready: boolean
      readonly worker: boolean
      readonly annotated: boolean
      readonly groupIndex: string | undefined
    }
  | { readonly op: "deletePod"; readonly name: string; readonly namespace: string }
  | { readonly op: "putAdapter"; readonly name: string; readonly namespace: string; readonly instances: Array<string> }
  | { readonly op: "deleteAdapter"; readonly name: string; readonly namespace: string }
  | { readonly op: "cut" | "expire" | "end" | "compact"; readonly resource: ResourceName | undefined }
  | { readonly op: "failLists" | "drop"; readonly resource: ResourceName; readonly count: number }
  | { readonly op: "pause"; readonly ms: number }

const resource = fc.constantFrom<ResourceName | undefined>("pods", "modeladapters", undefined)

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("putPod" as const),
      name: fc.constantFrom(...NAMES),
      namespace: fc.constantFrom(...NAMESPACES),
      model: fc.constantFrom("m1", "m2", "m3", undefined),
      uid: fc.constantFrom("u1", "u2"),
      ip: fc.constantFrom("10.0.0.1", "10.0.0.2", "10.0.0.3"),
      ready: fc.boolean(),
      worker: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
      annotated: fc.boolean(),
      groupIndex: fc.option(fc.constantFrom("0", "1"), { nil: undefined, freq: 4 })
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("deletePod" as const),
      name: fc.constantFrom(...NAMES),
      namespace: fc.constantFrom(...NAMESPACES)
    })
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("putAdapter" as const),
      name: fc.constantFrom(...ADAPTERS),
      namespace: fc.constantFrom(...NAMESPACES),
      instances: fc.subarray(NAMES)
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("deleteAdapter" as const),
      name: fc.constantFrom(...ADAPTERS),
      namespace: fc.constantFrom(...NAMESPACES)
    })
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom("cut" as const, "expire" as const), resource }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom("end" as const, "compact" as const), resource }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constantFrom("failLists" as const, "drop" as const),
      resource: fc.constantFrom<ResourceName>("pods", "modeladapters"),
      count: fc.integer({ min: 1, max: 2 })
    })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("pause" as const), ms: fc.integer({ min: 0, max: 30 }) }) }
)

const runStep = (fake: FakeKubernetes, step: Step): Effect.Effect<void> => {
  switch (step.op) {
    case "putPod":
      return Effect.sync(() => {
        fake.put(
          "pods",
          makePod({
            name: step.name,
            namespace: step.namespace,
            uid: step.uid,
            ip: step.ip,
            ready: step.ready,
            // The model as a label, or as the annotation (as names with '/' must be).
            ...(step.model === undefined
              ? {}
              : step.annotated
                ? { annotations: { [MODEL_LABEL]: `org/${step.model}` } }
                : { model: step.model }),
            labels: {
              ...(step.worker ? { "ray.io/node-type": "worker" } : {}),
              ...(step.groupIndex === undefined ? {} : { [POD_GROUP_INDEX_LABEL]: step.groupIndex })
            }
          })
        )
      })
    case "deletePod":
      return Effect.sync(() => void fake.remove("pods", step.namespace, step.name))
    case "putAdapter":
      return Effect.sync(() => void fake.put("modeladapters", makeAdapter(step.name, step.instances, step.namespace)))
    case "deleteAdapter":
      return Effect.sync(() => void fake.remove("modeladapters", step.namespace, step.name))
    case "cut":
      return Effect.sync(() => fake.cutWatches(step.resource))
    case "expire":
      return Effect.sync(() => fake.expireWatches(step.resource))
    case "end":
      return Effect.sync(() => fake.endWatches(step.resource))
    case "compact":
      return Effect.sync(() => fake.compact(step.resource))
    case "failLists":
      return Effect.sync(() => fake.failNextLists(step.resource, step.count))
    case "drop":
      return Effect.sync(() => fake.dropNextEvents(step.resource, step.count))
    case "pause":
      return realSleep(step.ms)
  }
}

/** Tracked pods as `key -> resourceVersion/baseModel`, from the server or from the store. */
const serverPods = (fake: FakeKubernetes): Record<string, string> =>
  Object.fromEntries(
    fake
      .objects("pods")
      .filter(isTracked)
      .map((pod) => [
        `${pod.metadata?.namespace}/${pod.metadata?.name}`,
        `${pod.metadata?.resourceVersion}/${baseModelOf(pod)}`
      ])
  )

const storePods = (store: FleetStore): Record<string, string> =>
  Object.fromEntries(
    Array.from(store.podEntries(), (entry) => [entry.key, `${entry.pod.metadata?.resourceVersion}/${entry.baseModel}`])
  )

/** Model -> serving pod keys, from the server's pods and adapters. */
const serverModels = (fake: FakeKubernetes): Record<string, ReadonlyArray<string>> => {
  const tracked = serverPods(fake)
  const models = new Map<string, Set<string>>()
  const serve = (model: string, key: string) => models.set(model, (models.get(model) ?? new Set()).add(key))
  for (const pod of fake.objects("pods").filter(isTracked)) {
    serve(baseModelOf(pod)!, `${pod.metadata?.namespace}/${pod.metadata?.name}`)
  }
  for (const adapter of fake.objects("modeladapters")) {
    const namespace = adapter.metadata!.namespace!
    const instances = (adapter as { status?: { instances?: Array<string> } }).status?.instances ?? []
    for (const instance of instances) {
      const key = `${namespace}/${instance}`
      if (key in tracked) serve(adapter.metadata!.name!, key)
    }
  }
  return Object.fromEntries(Array.from(models, ([model, keys]) => [model, [...keys].sort()]))
}

const storeModels = (store: FleetStore): Record<string, ReadonlyArray<string>> =>
  Object.fromEntries(store.listModels().map((model) => [model, podsServing(store, model)]))

const runScript = (script: ReadonlyArray<Step>) =>
  Effect.gen(function* () {
    const fake = yield* fakeKubernetes()
    fake.put("pods", makePod({ name: "p0", model: "m1" }))
    fake.put("modeladapters", makeAdapter("lora-a", ["p0"]))
    const { store } = yield* startDiscovery(fake, {
      backoff: { base: "5 millis", cap: "50 millis" },
      relistInterval: "100 millis"
    })
    for (const next of script) yield* runStep(fake, next)

    yield* eventually(() => {
      assert.deepStrictEqual(storePods(store), serverPods(fake))
      assert.deepStrictEqual(storeModels(store), serverModels(fake))
    }, 30_000)
  }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

describe("Kubernetes discovery: convergence", () => {
  it("converges on the server's state after random changes, disconnects and 410s", { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 20, maxLength: 80 }), (script) =>
        Effect.runPromise(runScript(script))
      ),
      // Shrinking would rerun slow failing scripts for minutes: report the first failure as it is.
      { numRuns: 12, endOnFailure: true }
    )
  })
})
