/**
 * What leaves the store is let go: nothing the store keeps for a pod, an
 * adapter or a request stays reachable once its owner is gone (checked with
 * weak references across a full garbage collection).
 */
import { describe, expect, it } from "@effect/vitest"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { FleetStore } from "../../src/store/FleetStore.ts"
import { InFlightRequest, InFlightRequests } from "../../src/store/InFlightRequests.ts"
import type { ModelAdapter } from "../../src/store/ModelAdapter.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { isCollected } from "../support/garbage.ts"

const { AdapterAdded, AdapterDeleted, AdapterUpdated, PodAdded, PodDeletedByKey } = DiscoveryEvent

describe("the store lets go of what left it", () => {
  it("a pod recreated under its name: the old entry and object go, though a request routed to it is in flight", async () => {
    const store = new FleetStore()
    const refs = (() => {
      store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m", uid: "u1" }) }))
      const old = store.podEntry("default", "p1")!
      store.addRequest(RoutingContext.make({ model: "m", requestId: "r1" }).setTargetPod(old.pod), "r1", "m", 0)
      store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m", uid: "u2" }) }))
      return { entry: new WeakRef(old), pod: new WeakRef(old.pod) }
    })()
    expect(await isCollected(refs.entry)).toBe(true)
    expect(await isCollected(refs.pod)).toBe(true)
    store.doneRequest("r1", 0)
    expect(store.runningRequests("default/p1")).toBe(0)
    expect(store.pendingRequests("m")).toBe(0)
  })

  it("an adapter deleted while it waited for pods that never came: nothing of it stays, nor of what it waited for", async () => {
    const store = new FleetStore()
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m" }) }))
    const ref = (() => {
      const adapter = makeAdapter("lora", ["p1", "never-1", "never-2"])
      store.apply(AdapterAdded({ adapter }))
      store.apply(AdapterDeleted({ adapter: makeAdapter("lora", []) }))
      return new WeakRef(adapter)
    })()
    expect(await isCollected(ref)).toBe(true)
    store.apply(PodAdded({ pod: makePod({ name: "never-1", model: "m", ip: "10.0.0.2" }) }))
    expect(store.podEntry("default", "never-1")?.modelNames()).toEqual(["m"])
    expect(store.hasModel("lora")).toBe(false)
  })

  it("an adapter updated: the old object and the pods only it listed are forgotten", async () => {
    const store = new FleetStore()
    const ref = (() => {
      const old: ModelAdapter = makeAdapter("lora", ["never-1"])
      store.apply(AdapterAdded({ adapter: old }))
      store.apply(AdapterUpdated({ oldAdapter: old, newAdapter: makeAdapter("lora", ["never-2"]) }))
      return new WeakRef(old)
    })()
    expect(await isCollected(ref)).toBe(true)
    store.apply(PodAdded({ pod: makePod({ name: "never-1", model: "m" }) }))
    store.apply(PodAdded({ pod: makePod({ name: "never-2", model: "m", ip: "10.0.0.2" }) }))
    expect(store.podEntry("default", "never-1")?.modelNames()).toEqual(["m"])
    expect(store.podEntry("default", "never-2")?.modelNames()).toEqual(["m", "lora"])
  })

  it("a request released after its lifetime, or done: its record goes, and the windows that held it", async () => {
    const requests = new InFlightRequests(1000)
    const refs = (() => {
      const expiring = new InFlightRequest("expiring", "m", { count: 1, modelGone: false }, undefined)
      const finished = new InFlightRequest("finished", "m", { count: 1, modelGone: false }, undefined)
      requests.add(expiring, 0)
      requests.add(finished, 500)
      return { expiring: new WeakRef(expiring), finished: new WeakRef(finished) }
    })()
    requests.takeExpired(1000, () => {})
    requests.take("finished")
    expect(await isCollected(refs.expiring)).toBe(true)
    expect(await isCollected(refs.finished)).toBe(true)
    expect(requests.size).toBe(0)
    // The newest window stays while empty, for the next add; it goes once it closes, releasing nothing.
    expect(requests.takeExpired(1500, () => expect.unreachable())).toBe(0)
    expect(requests.hasExpired(Number.MAX_SAFE_INTEGER)).toBe(false)
  })

  it("every map of the store comes back to empty once pods, adapters (naming pods that never came) and requests are gone", () => {
    const store = new FleetStore({ requestLifetimeMs: 1000 })
    const empty = {
      pods: 0,
      namespaces: 0,
      models: 0,
      adapters: 0,
      rememberedInstances: 0,
      pendingModels: 0,
      inFlight: 0
    }
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m" }) }))
    store.apply(PodAdded({ pod: makePod({ name: "p2", model: "m2", namespace: "team", ip: "10.0.0.2" }) }))
    for (const name of ["lora-0", "lora-1", "lora-2"]) {
      store.apply(AdapterAdded({ adapter: makeAdapter(name, ["p1", "never-1", `never-${name}`]) }))
    }
    store.addRequest(undefined, "done", "lora-0", 0)
    store.doneRequest("done", 0)
    store.addRequest(undefined, "finishes-late", "lora-1", 0)
    store.addRequest(undefined, "never-finishes", "lora-2", 0)
    store.addRequest(undefined, "of-a-base-model", "m2", 0)
    store.doneRequest("of-a-base-model", 0)
    expect(store.sizes()).toEqual({
      pods: 2,
      namespaces: 2,
      models: 5,
      adapters: 3,
      rememberedInstances: 5,
      pendingModels: 4,
      inFlight: 2
    })
    for (const name of ["lora-0", "lora-1", "lora-2"]) store.apply(AdapterDeleted({ adapter: makeAdapter(name, []) }))
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    store.apply(PodDeletedByKey({ key: "team/p2" }))
    // Gone models keep their pending count while requests counted in it are in flight.
    expect(store.sizes()).toEqual({ ...empty, pendingModels: 2, inFlight: 2 })
    store.doneRequest("finishes-late", 0)
    expect(store.releaseExpired(1000)).toBe(1)
    expect(store.sizes()).toEqual(empty)
  })
})
