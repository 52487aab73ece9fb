/**
 * The lifetime of in-flight requests in the store: a request not done within
 * its lifetime is released once (its counts given back, counted abandoned),
 * never before, within a window of its deadline; and a request keeps no
 * removed pod alive.
 */
import { describe, expect, it } from "@effect/vitest"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { FleetStore, REALTIME_RUNNING_METRIC } from "../../src/store/FleetStore.ts"
import { EXPIRY_WINDOW_MS, InFlightRequest, InFlightRequests } from "../../src/store/InFlightRequests.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { makePod } from "../support/fixtures.ts"
import { isCollected } from "../support/garbage.ts"
import { recordingTrace } from "../support/recordingTrace.ts"

const { PodAdded, PodDeletedByKey } = DiscoveryEvent
const LIFETIME = 10_000

const storeWithPod = (lifetime = LIFETIME, uid = "u1"): FleetStore => {
  const store = new FleetStore({ requestLifetimeMs: lifetime })
  store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m", uid }) }))
  return store
}

const routed = (store: FleetStore, requestId: string) =>
  RoutingContext.make({ model: "m", requestId }).setTargetPod(store.podEntry("default", "p1")!.pod)

const request = (id: string) => new InFlightRequest(id, "m", undefined, undefined)

const expiredAt = (requests: InFlightRequests, now: number): ReadonlyArray<string> => {
  const ids: Array<string> = []
  requests.takeExpired(now, (expired) => ids.push(expired.id))
  return ids
}

describe("InFlightRequests: expiry windows", () => {
  it("releases a request at its deadline at the earliest and within one window after it", () => {
    for (const addedAt of [0, 1, 249, 250, 251, 999, 1_000_000_123]) {
      const requests = new InFlightRequests(LIFETIME)
      requests.add(request("r"), addedAt)
      expect(requests.hasExpired(addedAt + LIFETIME - 1)).toBe(false)
      expect(expiredAt(requests, addedAt + LIFETIME - 1)).toEqual([])
      expect(requests.hasExpired(addedAt + LIFETIME + EXPIRY_WINDOW_MS)).toBe(true)
      expect(expiredAt(requests, addedAt + LIFETIME + EXPIRY_WINDOW_MS)).toEqual(["r"])
      expect(requests.size).toBe(0)
    }
  })

  it("takes only the windows that closed, oldest first, and nothing twice", () => {
    const requests = new InFlightRequests(LIFETIME)
    for (let i = 0; i < 10; i++) requests.add(request(`r${i}`), i * 1000)
    expect(expiredAt(requests, LIFETIME + 3000)).toEqual(["r0", "r1", "r2", "r3"])
    expect(expiredAt(requests, LIFETIME + 3000)).toEqual([])
    expect(requests.size).toBe(6)
    expect(expiredAt(requests, LIFETIME + 100_000)).toEqual(["r4", "r5", "r6", "r7", "r8", "r9"])
  })

  it("a request taken (done) is not released, and its emptied window is gone", () => {
    const requests = new InFlightRequests(LIFETIME)
    requests.add(request("a"), 0)
    requests.add(request("b"), 0)
    requests.add(request("c"), 5000)
    expect(requests.take("a")?.id).toBe("a")
    expect(requests.take("a")).toBeUndefined()
    expect(requests.take("b")?.id).toBe("b")
    expect(requests.hasExpired(LIFETIME + 1000)).toBe(false)
    expect(expiredAt(requests, LIFETIME + 5000)).toEqual(["c"])
  })

  it("a clock that went back files a request by its own deadline, not after the newest", () => {
    const requests = new InFlightRequests(LIFETIME)
    requests.add(request("late"), 60_000)
    requests.add(request("early"), 1_000)
    requests.add(request("middle"), 30_000)
    expect(expiredAt(requests, 1_000 + LIFETIME)).toEqual(["early"])
    expect(expiredAt(requests, 30_000 + LIFETIME)).toEqual(["middle"])
    expect(expiredAt(requests, 60_000 + LIFETIME)).toEqual(["late"])
  })

  it("after the clock went back, the adds that follow go to windows of their own deadlines, then on as before", () => {
    const requests = new InFlightRequests(LIFETIME)
    requests.add(request("ahead"), 3_600_000)
    for (let i = 0; i < 1000; i++) requests.add(request(`behind-${i}`), i)
    requests.add(request("ahead-again"), 3_600_001)
    const released = expiredAt(requests, 1000 + LIFETIME)
    expect(released).toEqual(Array.from({ length: 1000 }, (_, i) => `behind-${i}`))
    expect(expiredAt(requests, 3_600_001 + LIFETIME + EXPIRY_WINDOW_MS)).toEqual(["ahead", "ahead-again"])
  })

  it("a shortened lifetime holds for requests added after, which expire before older ones", () => {
    const requests = new InFlightRequests(LIFETIME)
    requests.add(request("long"), 0)
    requests.lifetimeMs = 1000
    requests.add(request("short"), 0)
    expect(expiredAt(requests, 1000)).toEqual(["short"])
    expect(expiredAt(requests, LIFETIME)).toEqual(["long"])
  })

  it("refuses a lifetime that is not a positive number", () => {
    for (const lifetime of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new InFlightRequests(lifetime)).toThrow(RangeError)
    }
  })
})

describe("FleetStore: requests past their lifetime", () => {
  it("are released on the request path: pending and running given back once, counted abandoned", () => {
    const store = storeWithPod()
    store.addRequest(routed(store, "lost"), "lost", "m", 0)
    store.addRequest(routed(store, "kept"), "kept", "m", LIFETIME / 2)
    expect(store.pendingRequests("m")).toBe(2)
    store.addRequest(undefined, "next", "other", LIFETIME - 1)
    expect(store.abandonedCount).toBe(0)
    store.addRequest(undefined, "after", "other", LIFETIME + 1000)
    expect(store.abandonedCount).toBe(1)
    expect(store.pendingRequests("m")).toBe(1)
    expect(store.runningRequests("default/p1")).toBe(1)
    expect(store.podEntry("default", "p1")?.podMetrics.get(REALTIME_RUNNING_METRIC)).toEqual(MetricValue.simple(1))
    expect(store.inFlightCount).toBe(3)
  })

  it("a done after the release is ignored like an unknown id, and the id may be added again", () => {
    const store = storeWithPod()
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    store.addRequest(routed(store, "r2"), "r2", "m", 1)
    expect(store.releaseExpired(LIFETIME + 1000)).toBe(2)
    store.addRequest(routed(store, "r3"), "r3", "m", LIFETIME + 1000)
    store.doneRequest("r1", 0)
    store.doneRequest("r2", 0)
    expect(store.pendingRequests("m")).toBe(1)
    expect(store.runningRequests("default/p1")).toBe(1)
    store.addRequest(routed(store, "r1"), "r1", "m", LIFETIME + 1000)
    expect(store.pendingRequests("m")).toBe(2)
    store.doneRequest("r1", 0)
    store.doneRequest("r3", 0)
    expect(store.pendingRequests("m")).toBe(0)
    expect(store.runningRequests("default/p1")).toBe(0)
    expect(store.abandonedCount).toBe(2)
  })

  it("an expired request's running count goes back to the very entry that counted it, not its successor", () => {
    const store = storeWithPod(LIFETIME, "u1")
    store.addRequest(routed(store, "old"), "old", "m", 0)
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m", uid: "u2" }) }))
    store.addRequest(routed(store, "new"), "new", "m", LIFETIME / 2)
    expect(store.releaseExpired(LIFETIME)).toBe(1)
    expect(store.runningRequests("default/p1")).toBe(1)
    expect(store.pendingRequests("m")).toBe(1)
  })

  it("a released request is not counted completed on its pod, and the other replicas' count stays", () => {
    const store = storeWithPod()
    const entry = store.podEntry("default", "p1")!
    store.setRemoteRunning(entry, 3)
    store.addRequest(routed(store, "lost"), "lost", "m", 0)
    store.addRequest(routed(store, "done"), "done", "m", 0)
    store.doneRequest("done", 0)
    expect(entry.podMetrics.get(REALTIME_RUNNING_METRIC)).toEqual(MetricValue.simple(4))
    store.releaseExpired(LIFETIME)
    expect(entry.podMetrics.get(REALTIME_RUNNING_METRIC)).toEqual(MetricValue.simple(3))
    expect(entry.completed).toBe(1)
  })

  it("the trace counts a released request neither completed nor again", () => {
    const store = storeWithPod()
    const { recorder, calls } = recordingTrace(1)
    store.setTraceRecorder(recorder)
    store.addRequest(undefined, "r1", "m", 0)
    store.releaseExpired(LIFETIME)
    store.doneRequest("r1", 1)
    expect(calls).toEqual(["add m"])
  })

  it("a model gone meanwhile forgets its pending counter once its last request is released", () => {
    const store = storeWithPod()
    store.addRequest(undefined, "r1", "m", 0)
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    expect(store.pendingRequests("m")).toBe(1)
    expect(store.sizes().pendingModels).toBe(1)
    store.releaseExpired(LIFETIME)
    expect(store.pendingRequests("m")).toBe(0)
    expect(store.sizes().pendingModels).toBe(0)
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m" }) }))
    expect(store.pendingRequests("m")).toBe(0)
  })
})

describe("FleetStore: removed pods are let go", () => {
  it("a request routed to a pod keeps neither its entry nor its object once the pod is deleted", async () => {
    const store = storeWithPod()
    const track = (): { entry: WeakRef<object>; pod: WeakRef<object> } => {
      const entry = store.podEntry("default", "p1")!
      store.addRequest(routed(store, "unfinished"), "unfinished", "m", 0)
      store.apply(PodDeletedByKey({ key: "default/p1" }))
      return { entry: new WeakRef(entry), pod: new WeakRef(entry.pod) }
    }
    const refs = track()
    expect(store.inFlightCount).toBe(1)
    expect(await isCollected(refs.entry)).toBe(true)
    expect(await isCollected(refs.pod)).toBe(true)
    expect(store.pendingRequests("m")).toBe(1)
    store.doneRequest("unfinished", 0)
    expect(store.pendingRequests("m")).toBe(0)
    expect(store.inFlightCount).toBe(0)
  })
})
