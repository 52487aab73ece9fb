/**
 * Long random sequences of discovery events and requests; after every step the
 * store's indexes must agree with each other and with the spec's invariants.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { FleetStore, type PodEntry } from "../../src/store/FleetStore.ts"
import { EXPIRY_WINDOW_MS } from "../../src/store/InFlightRequests.ts"
import type { ModelAdapter } from "../../src/store/ModelAdapter.ts"
import { isTracked, MODEL_LABEL, POD_GROUP_INDEX_LABEL } from "../../src/store/Pod.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"

const NAMESPACES = ["a", "b"] as const
const POD_NAMES = ["p0", "p1", "p2", "p3"] as const
const MODELS = ["m0", "m1", "m2"] as const
const ADAPTERS = ["lora0", "lora1", "m0"] as const // one adapter shares a base model's name

const podArb = fc
  .record({
    name: fc.constantFrom(...POD_NAMES),
    namespace: fc.constantFrom(...NAMESPACES),
    model: fc.option(fc.constantFrom(...MODELS), { nil: undefined }),
    uid: fc.constantFrom("u1", "u2"),
    ip: fc.constantFrom("10.0.0.1", "10.0.0.2", ""),
    annotated: fc.option(fc.constantFrom("org/m0", "org/m1"), { nil: undefined }),
    worker: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
    groupIndex: fc.option(fc.constantFrom("0", "1", "2", "x"), { nil: undefined, freq: 3 })
  })
  .map(({ annotated, groupIndex, worker, ...options }) =>
    makePod({
      ...options,
      labels: {
        ...(worker ? { "ray.io/node-type": "worker" } : {}),
        ...(groupIndex === undefined ? {} : { [POD_GROUP_INDEX_LABEL]: groupIndex })
      },
      ...(annotated === undefined ? {} : { annotations: { [MODEL_LABEL]: annotated } })
    })
  )

const adapterArb = fc
  .record({
    name: fc.constantFrom(...ADAPTERS),
    namespace: fc.constantFrom(...NAMESPACES),
    instances: fc.subarray([...POD_NAMES, "ghost"])
  })
  .map(({ instances, name, namespace }) => makeAdapter(name, instances, namespace))

type Step =
  | { readonly _tag: "Event"; readonly event: DiscoveryEvent }
  | { readonly _tag: "Add"; readonly requestId: string; readonly model: string; readonly route: string | undefined }
  | { readonly _tag: "Done"; readonly requestId: string }

const requestIdArb = fc.constantFrom("r0", "r1", "r2", "r3", "r4")

const addArb: fc.Arbitrary<Step> = fc
  .record({
    requestId: requestIdArb,
    model: fc.constantFrom(...MODELS, ...ADAPTERS),
    route: fc.option(fc.constantFrom(...NAMESPACES.flatMap((ns) => POD_NAMES.map((name) => `${ns}/${name}`))), {
      nil: undefined
    })
  })
  .map((add) => ({ _tag: "Add", ...add }) as const)

const doneArb: fc.Arbitrary<Step> = requestIdArb.map((requestId) => ({ _tag: "Done", requestId }) as const)

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  podArb.map((pod) => ({ _tag: "Event", event: DiscoveryEvent.PodAdded({ pod }) }) as const),
  fc.tuple(podArb, podArb).map(
    ([oldPod, newPod]) =>
      ({
        _tag: "Event",
        event: DiscoveryEvent.PodUpdated({ oldPod, newPod })
      }) as const
  ),
  podArb.map((pod) => ({ _tag: "Event", event: DiscoveryEvent.PodDeleted({ pod }) }) as const),
  fc.tuple(fc.constantFrom(...NAMESPACES), fc.constantFrom(...POD_NAMES)).map(
    ([namespace, name]) =>
      ({
        _tag: "Event",
        event: DiscoveryEvent.PodDeletedByKey({ key: `${namespace}/${name}` })
      }) as const
  ),
  adapterArb.map((adapter) => ({ _tag: "Event", event: DiscoveryEvent.AdapterAdded({ adapter }) }) as const),
  fc.tuple(adapterArb, adapterArb).map(
    ([oldAdapter, newAdapter]) =>
      ({
        _tag: "Event",
        event: DiscoveryEvent.AdapterUpdated({ oldAdapter, newAdapter })
      }) as const
  ),
  adapterArb.map((adapter) => ({ _tag: "Event", event: DiscoveryEvent.AdapterDeleted({ adapter }) }) as const),
  addArb,
  doneArb
)

const LIFETIME = 10 * EXPIRY_WINDOW_MS

type TimedStep = Step | { readonly _tag: "Tick"; readonly windows: number; readonly sweep: boolean }

// Requests are most of the steps here: they must meet pods deleted and recreated under them.
const timedStepArb: fc.Arbitrary<TimedStep> = fc.oneof(
  { arbitrary: stepArb, weight: 3 },
  { arbitrary: addArb, weight: 3 },
  { arbitrary: doneArb, weight: 1 },
  {
    arbitrary: fc
      .record({ windows: fc.integer({ min: 0, max: 8 }), sweep: fc.boolean() })
      .map((tick) => ({ _tag: "Tick", ...tick }) as const),
    weight: 1
  }
)

/** The adapters in force, by `namespace/name`: the plain reference for the adapter mappings. */
type AdapterReference = Map<string, ModelAdapter>

const adapterKey = (adapter: ModelAdapter) => `${adapter.metadata?.namespace}/${adapter.metadata?.name}`

const follow = (adapters: AdapterReference, event: DiscoveryEvent): void => {
  switch (event._tag) {
    case "AdapterAdded":
      adapters.set(adapterKey(event.adapter), event.adapter)
      return
    case "AdapterUpdated":
      adapters.delete(adapterKey(event.oldAdapter))
      adapters.set(adapterKey(event.newAdapter), event.newAdapter)
      return
    case "AdapterDeleted":
      adapters.delete(adapterKey(event.adapter))
  }
}

const run = (store: FleetStore, step: Step, adapters: AdapterReference = new Map(), now = 0): void => {
  switch (step._tag) {
    case "Event":
      store.apply(step.event)
      follow(adapters, step.event)
      return
    case "Add": {
      const ctx = RoutingContext.make({ model: step.model, requestId: step.requestId })
      const target = step.route === undefined ? undefined : store.podEntryByKey(step.route)
      if (target !== undefined) ctx.setTargetPod(target.pod)
      store.addRequest(ctx, step.requestId, step.model, now)
      return
    }
    case "Done":
      store.doneRequest(step.requestId, 0)
  }
}

/**
 * A store without expiry and, beside it, which entry each request in flight
 * was counted on (seen as the one running count the add raised), so that
 * every entry's running count can be checked against the requests that hold it.
 */
class CountedStore {
  readonly store = new FleetStore({ requestLifetimeMs: Number.MAX_SAFE_INTEGER })
  readonly #addedAt = new Map<string, number>()
  readonly #countedOn = new Map<string, PodEntry>()

  run(step: Step, now: number): void {
    if (step._tag === "Done") this.#finish(step.requestId)
    else if (step._tag === "Add" && !this.#addedAt.has(step.requestId)) {
      const before = new Map(Array.from(this.store.podEntries(), (entry) => [entry, entry.running]))
      run(this.store, step, new Map(), now)
      this.#addedAt.set(step.requestId, now)
      for (const [entry, running] of before) {
        if (entry.running === running + 1) this.#countedOn.set(step.requestId, entry)
      }
    } else run(this.store, step, new Map(), now)
  }

  /** Finishes every request added at or before `time`. */
  finishAddedBy(time: number): void {
    for (const [requestId, at] of this.#addedAt) if (at <= time) this.#finish(requestId)
  }

  #finish(requestId: string): void {
    this.store.doneRequest(requestId, 0)
    this.#addedAt.delete(requestId)
    this.#countedOn.delete(requestId)
  }

  checkRunningCounts(): void {
    for (const entry of this.store.podEntries()) {
      let holding = 0
      for (const counted of this.#countedOn.values()) if (counted === entry) holding++
      expect(entry.running).toBe(holding)
    }
  }
}

const isDelete = (step: Step): boolean =>
  step._tag === "Event" &&
  (step.event._tag === "PodDeleted" || step.event._tag === "PodDeletedByKey" || step.event._tag === "AdapterDeleted")

/** A snapshot of everything a reader can see, to compare two states. */
const view = (store: FleetStore) => ({
  models: [...store.listModels()].sort().map((model) => [
    model,
    store
      .podList(model)!
      .all()
      .map((pod) => pod)
  ]),
  pods: [...store.podEntries()].map((entry) => [entry.key, entry.pod, entry.modelNames(), entry.running]),
  pending: MODELS.map((model) => store.pendingRequests(model))
})

const checkInvariants = (store: FleetStore): void => {
  const entries = [...store.podEntries()]
  for (const entry of entries) {
    expect(isTracked(entry.pod)).toBe(true)
    expect(entry.running).toBeGreaterThanOrEqual(0)
    // pod -> model implies model -> pod
    for (const model of entry.modelNames()) expect(store.podList(model)?.all()).toContain(entry.pod)
    expect(new Set(entry.modelNames())).toEqual(entry.models)
  }
  for (const model of store.listModels()) {
    const list = store.podList(model)!
    expect(list.len).toBeGreaterThan(0) // no model without pods
    for (const pod of list.all()) {
      const entry = entries.find((candidate) => candidate.pod === pod)
      expect(entry?.modelNames()).toContain(model) // model -> pod implies pod -> model
    }
  }
  for (const model of [...MODELS, ...ADAPTERS]) expect(store.pendingRequests(model)).toBeGreaterThanOrEqual(0)
}

/**
 * Whatever the order of events, a pod serves exactly the adapters in force
 * that list it: the ones applied before it arrived as well as after.
 */
const checkAdapters = (store: FleetStore, adapters: AdapterReference): void => {
  for (const entry of store.podEntries()) {
    const expected = [...adapters.values()]
      .filter((adapter) => adapter.metadata?.namespace === entry.pod.metadata.namespace)
      .filter((adapter) => adapter.status?.instances?.includes(entry.pod.metadata.name))
      .map((adapter) => adapter.metadata?.name)
    expect([...entry.adapters].sort()).toEqual([...new Set(expected)].sort())
  }
}

describe("FleetStore under random event sequences", () => {
  it("keeps its indexes consistent after every step", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 150 }), (steps) => {
        const store = new FleetStore()
        const adapters: AdapterReference = new Map()
        for (const step of steps) {
          run(store, step, adapters)
          checkInvariants(store)
          checkAdapters(store, adapters)
          if (isDelete(step)) {
            const before = view(store)
            run(store, step)
            expect(view(store)).toEqual(before)
          }
        }
      }),
      { numRuns: 300 }
    )
  })

  it("releases a request past its lifetime exactly as its done would have, to the entries that counted it", () => {
    fc.assert(
      fc.property(fc.array(timedStepArb, { minLength: 1, maxLength: 150, size: "max" }), (steps) => {
        // Times and lifetime in whole expiry windows, so a request expires exactly at add + lifetime.
        const expiring = new FleetStore({ requestLifetimeMs: LIFETIME })
        const reference = new CountedStore()
        let now = 0
        for (const step of steps) {
          if (step._tag === "Tick") now += step.windows * EXPIRY_WINDOW_MS
          // The reference finishes by hand what has expired by now.
          reference.finishAddedBy(now - LIFETIME)
          if (step._tag === "Tick") {
            if (step.sweep) expiring.releaseExpired(now)
          } else {
            run(expiring, step, new Map(), now)
            reference.run(step, now)
          }
          reference.checkRunningCounts()
          if (step._tag === "Add" || (step._tag === "Tick" && step.sweep)) {
            expect(view(expiring)).toEqual(view(reference.store))
            expect(expiring.inFlightCount).toBe(reference.store.inFlightCount)
          }
        }
        expiring.releaseExpired(now + LIFETIME)
        expect(expiring.inFlightCount).toBe(0)
        for (const model of [...MODELS, ...ADAPTERS]) expect(expiring.pendingRequests(model)).toBe(0)
        for (const entry of expiring.podEntries()) expect(entry.running).toBe(0)
      }),
      { numRuns: 300 }
    )
  })

  it("gives every count back: finishing all requests leaves no pending or running", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 150 }), (steps) => {
        const store = new FleetStore()
        for (const step of steps) run(store, step)
        for (const requestId of ["r0", "r1", "r2", "r3", "r4"]) store.doneRequest(requestId, 0)
        expect(store.inFlightCount).toBe(0)
        for (const model of [...MODELS, ...ADAPTERS]) expect(store.pendingRequests(model)).toBe(0)
        for (const entry of store.podEntries()) expect(entry.running).toBe(0)
      }),
      { numRuns: 300 }
    )
  })
})
