/**
 * The store's state transitions: which pods are tracked, how events map pods,
 * models and adapters, and the engine values.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import type { V1Pod } from "@kubernetes/client-node"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { type EngineMetrics, FleetStore, type PodEntry, REALTIME_RUNNING_METRIC } from "../../src/store/FleetStore.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { MODEL_LABEL, POD_GROUP_INDEX_LABEL } from "../../src/store/Pod.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { makeAdapter, makePod, type PodOptions } from "../support/fixtures.ts"
import { recordingTrace } from "../support/recordingTrace.ts"

const { AdapterAdded, AdapterDeleted, AdapterUpdated, PodAdded, PodDeleted, PodDeletedByKey, PodUpdated } =
  DiscoveryEvent

const storeWith = (...pods: ReadonlyArray<PodOptions>): FleetStore => {
  const store = new FleetStore()
  for (const pod of pods) store.apply(PodAdded({ pod: makePod(pod) }))
  return store
}

const podNames = (store: FleetStore, model: string): ReadonlyArray<string> | undefined =>
  store
    .podList(model)
    ?.all()
    .map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`)

const modelsOf = (store: FleetStore, name: string, namespace = "default") =>
  store.podEntry(namespace, name)?.modelNames()

describe("FleetStore: which pods are tracked", () => {
  it("tracks a pod with the model label and maps it both ways", () => {
    const store = storeWith({ name: "p1", model: "m1" })
    expect(podNames(store, "m1")).toEqual(["default/p1"])
    expect(modelsOf(store, "p1")).toEqual(["m1"])
    expect(store.listModels()).toEqual(["m1"])
  })

  it("ignores a pod without the model label", () => {
    const store = storeWith({ name: "p1" })
    expect(store.podCount).toBe(0)
    expect(store.listModels()).toEqual([])
  })

  it("never tracks a ray worker", () => {
    const store = storeWith({ name: "w1", model: "m1", labels: { "ray.io/node-type": "worker" } })
    expect(store.podCount).toBe(0)
    expect(store.hasModel("m1")).toBe(false)
    const head = storeWith({ name: "h1", model: "m1", labels: { "ray.io/node-type": "head" } })
    expect(head.podCount).toBe(1)
  })

  it("reads the model from the annotation when the label is absent or empty; the label wins", () => {
    const store = storeWith(
      { name: "p1", annotations: { [MODEL_LABEL]: "org/model" } },
      { name: "p2", labels: { [MODEL_LABEL]: "" }, annotations: { [MODEL_LABEL]: "org/model" } },
      { name: "p3", model: "label-model", annotations: { [MODEL_LABEL]: "org/other" } },
      { name: "p4", annotations: { [MODEL_LABEL]: "" } }
    )
    expect(podNames(store, "org/model")).toEqual(["default/p1", "default/p2"])
    expect(podNames(store, "label-model")).toEqual(["default/p3"])
    expect(store.hasModel("org/other")).toBe(false)
    expect(store.podEntry("default", "p4")).toBeUndefined()
  })

  it("tracks a pod group's leader only: members with an integer index above 0 are not tracked", () => {
    const groupPod = (name: string, index: string): PodOptions => ({
      name,
      model: "m1",
      labels: { [POD_GROUP_INDEX_LABEL]: index }
    })
    const store = storeWith(
      groupPod("leader", "0"),
      groupPod("member-1", "1"),
      groupPod("member-2", "+2"),
      groupPod("member-12", "12"),
      groupPod("negative", "-1"),
      groupPod("not-a-number", "one"),
      groupPod("spaced", " 1"),
      groupPod("empty", "")
    )
    expect(podNames(store, "m1")).toEqual([
      "default/leader",
      "default/negative",
      "default/not-a-number",
      "default/spaced",
      "default/empty"
    ])
  })

  it("keeps two pods of the same name in two namespaces apart", () => {
    const store = storeWith({ name: "p1", namespace: "a", model: "m1" }, { name: "p1", namespace: "b", model: "m2" })
    expect(store.podCount).toBe(2)
    expect(podNames(store, "m1")).toEqual(["a/p1"])
    expect(podNames(store, "m2")).toEqual(["b/p1"])
    store.apply(PodDeletedByKey({ key: "a/p1" }))
    expect(store.hasModel("m1")).toBe(false)
    expect(podNames(store, "m2")).toEqual(["b/p1"])
  })

  it("keeps the very object it was given", () => {
    const pod = makePod({ name: "p1", model: "m1" })
    const store = new FleetStore()
    store.apply(PodAdded({ pod }))
    expect(store.podEntry("default", "p1")?.pod).toBe(pod)
    expect(store.podList("m1")?.all()[0]).toBe(pod)
  })

  it("skips a malformed pod and says why", () => {
    const store = new FleetStore()
    const rejection = store.apply(PodAdded({ pod: { metadata: { labels: { "model.aibrix.ai/name": "m" } } } }))
    expect(rejection?.event).toBe("PodAdded")
    expect(rejection?.reason).toMatch(/malformed pod/)
    expect(store.podCount).toBe(0)
  })
})

describe("FleetStore: pod updates", () => {
  const withAdapterAndLoad = () => {
    const store = storeWith({ name: "p1", model: "base", uid: "u1", ip: "10.0.0.1" })
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1"]) }))
    store.setPodMetric("default/p1", "gpu_cache_usage_perc", MetricValue.simple(0.3))
    const ctx = RoutingContext.make({ model: "base", requestId: "r1" }).setTargetPod(
      store.podEntry("default", "p1")!.pod
    )
    store.addRequest(ctx, "r1", "base", 0)
    return store
  }

  it("same engine (key, UID, IP unchanged): new object stored, adapters, metrics and running kept", () => {
    const store = withAdapterAndLoad()
    const newPod = makePod({ name: "p1", model: "base", uid: "u1", ip: "10.0.0.1", ready: false })
    store.apply(PodUpdated({ oldPod: store.podEntry("default", "p1")!.pod, newPod }))
    const entry = store.podEntry("default", "p1")!
    expect(entry.pod).toBe(newPod)
    expect(store.podList("base")?.all()[0]).toBe(newPod)
    expect(entry.modelNames()).toEqual(["base", "lora"])
    expect(entry.podMetrics.get("gpu_cache_usage_perc")).toEqual(MetricValue.simple(0.3))
    expect(store.runningRequests("default/p1")).toBe(1)
  })

  it("same engine with a new model label: re-maps only the base model", () => {
    const store = withAdapterAndLoad()
    const newPod = makePod({ name: "p1", model: "base2", uid: "u1", ip: "10.0.0.1" })
    store.apply(PodUpdated({ oldPod: store.podEntry("default", "p1")!.pod, newPod }))
    expect(store.hasModel("base")).toBe(false)
    expect(podNames(store, "base2")).toEqual(["default/p1"])
    expect(podNames(store, "lora")).toEqual(["default/p1"])
    expect(store.runningRequests("default/p1")).toBe(1)
  })

  it.each([
    ["recreated (new UID)", { name: "p1", uid: "u2", ip: "10.0.0.1" }],
    ["moved (new IP)", { name: "p1", uid: "u1", ip: "10.0.0.9" }]
  ])(
    "%s: a new entry without the old metrics and running count, mapped anew by the adapter listing it",
    (_, changed) => {
      const store = withAdapterAndLoad()
      const before = store.podEntry("default", "p1")!
      const newPod = makePod({ ...changed, model: "base" })
      store.apply(PodUpdated({ oldPod: before.pod, newPod }))
      const entry = store.podEntry("default", "p1")!
      expect(entry).not.toBe(before)
      expect(before.removed).toBe(true)
      expect(entry.pod).toBe(newPod)
      expect(entry.modelNames()).toEqual(["base", "lora"])
      expect(entry.podMetrics.size).toBe(0)
      expect(store.runningRequests("default/p1")).toBe(0)
    }
  )

  it("recreated while no adapter lists it: no adapter is inherited", () => {
    const store = withAdapterAndLoad()
    store.apply(AdapterUpdated({ oldAdapter: makeAdapter("lora", ["p1"]), newAdapter: makeAdapter("lora", ["p9"]) }))
    const newPod = makePod({ name: "p1", model: "base", uid: "u2" })
    store.apply(PodUpdated({ oldPod: store.podEntry("default", "p1")!.pod, newPod }))
    expect(modelsOf(store, "p1")).toEqual(["base"])
    expect(store.hasModel("lora")).toBe(false)
  })

  it("renamed: the old key is gone, the new one added as new", () => {
    const store = withAdapterAndLoad()
    const oldPod = store.podEntry("default", "p1")!.pod
    store.apply(PodUpdated({ oldPod, newPod: makePod({ name: "p2", model: "base", uid: "u1", ip: "10.0.0.1" }) }))
    expect(store.podEntry("default", "p1")).toBeUndefined()
    expect(podNames(store, "base")).toEqual(["default/p2"])
    expect(modelsOf(store, "p2")).toEqual(["base"])
    expect(store.hasModel("lora")).toBe(false)
  })

  it.each([
    ["lost its label", { name: "p1", uid: "u1", ip: "10.0.0.1" }],
    [
      "became a pod-group member",
      { name: "p1", uid: "u1", ip: "10.0.0.1", model: "base", labels: { [POD_GROUP_INDEX_LABEL]: "1" } }
    ],
    [
      "became a ray worker",
      { name: "p1", uid: "u1", ip: "10.0.0.1", model: "base", labels: { "ray.io/node-type": "worker" } }
    ]
  ])("%s: simply gone", (_, changed) => {
    const store = withAdapterAndLoad()
    store.apply(PodUpdated({ oldPod: store.podEntry("default", "p1")!.pod, newPod: makePod(changed) }))
    expect(store.podCount).toBe(0)
    expect(store.listModels()).toEqual([])
  })

  it("an update that gains the label adds the pod", () => {
    const store = storeWith({ name: "p1" })
    store.apply(PodUpdated({ oldPod: makePod({ name: "p1" }), newPod: makePod({ name: "p1", model: "m" }) }))
    expect(podNames(store, "m")).toEqual(["default/p1"])
  })

  it("a repeated add of a known pod is an update", () => {
    const store = withAdapterAndLoad()
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "base", uid: "u1", ip: "10.0.0.1" }) }))
    expect(modelsOf(store, "p1")).toEqual(["base", "lora"])
    expect(store.runningRequests("default/p1")).toBe(1)
  })
})

describe("FleetStore: pod deletes", () => {
  it("by object, even when the label was removed before the delete", () => {
    const store = storeWith({ name: "p1", model: "m1" })
    store.apply(PodDeleted({ pod: makePod({ name: "p1" }) }))
    expect(store.podCount).toBe(0)
    expect(store.hasModel("m1")).toBe(false)
  })

  it("by key (a tombstone)", () => {
    const store = storeWith({ name: "p1", model: "m1" }, { name: "p2", model: "m1" })
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    expect(podNames(store, "m1")).toEqual(["default/p2"])
  })

  it("the last mapping removed deletes the model; deleting twice is a no-op", () => {
    const store = storeWith({ name: "p1", model: "m1" }, { name: "p2", model: "m1" })
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    expect(store.hasModel("m1")).toBe(true)
    store.apply(PodDeletedByKey({ key: "default/p2" }))
    expect(store.hasModel("m1")).toBe(false)
    const version = store.version
    store.apply(PodDeletedByKey({ key: "default/p2" }))
    expect(store.version).toBe(version)
  })
})

describe("FleetStore: adapters", () => {
  it("add maps each known instance; unknown pods are skipped without creating anything", () => {
    const store = storeWith({ name: "p1", model: "base" })
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1", "ghost"]) }))
    expect(podNames(store, "lora")).toEqual(["default/p1"])
    expect(store.podCount).toBe(1)
    expect(store.podEntry("default", "ghost")).toBeUndefined()
  })

  it("only maps pods in the adapter's namespace", () => {
    const store = storeWith(
      { name: "p1", namespace: "a", model: "base" },
      { name: "p1", namespace: "b", model: "base" }
    )
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1"], "b") }))
    expect(podNames(store, "lora")).toEqual(["b/p1"])
  })

  it("update removes the old mappings and adds the new", () => {
    const store = storeWith({ name: "p1", model: "base" }, { name: "p2", model: "base" })
    const oldAdapter = makeAdapter("lora", ["p1"])
    store.apply(AdapterAdded({ adapter: oldAdapter }))
    store.apply(AdapterUpdated({ oldAdapter, newAdapter: makeAdapter("lora", ["p2"]) }))
    expect(podNames(store, "lora")).toEqual(["default/p2"])
    expect(modelsOf(store, "p1")).toEqual(["base"])
  })

  it("delete removes its mappings and, with the last one, the model", () => {
    const store = storeWith({ name: "p1", model: "base" })
    const adapter = makeAdapter("lora", ["p1"])
    store.apply(AdapterAdded({ adapter }))
    store.apply(AdapterDeleted({ adapter }))
    expect(store.hasModel("lora")).toBe(false)
    expect(modelsOf(store, "p1")).toEqual(["base"])
  })

  it("an adapter named like the base model does not unmap the base model when removed", () => {
    const store = storeWith({ name: "p1", model: "base" })
    const adapter = makeAdapter("base", ["p1"])
    store.apply(AdapterAdded({ adapter }))
    store.apply(AdapterDeleted({ adapter }))
    expect(podNames(store, "base")).toEqual(["default/p1"])
  })

  it("an adapter listed before its pods maps each one the moment it arrives, without creating anything before", () => {
    const store = new FleetStore()
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1", "p2"]) }))
    expect(store.hasModel("lora")).toBe(false)
    expect(store.podCount).toBe(0)
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "base" }) }))
    expect(podNames(store, "lora")).toEqual(["default/p1"])
    expect(modelsOf(store, "p1")).toEqual(["base", "lora"])
    store.apply(PodAdded({ pod: makePod({ name: "p2", model: "base" }) }))
    expect(podNames(store, "lora")).toEqual(["default/p1", "default/p2"])
  })

  it("a pod that arrives in another namespace, or by another name, is not mapped", () => {
    const store = new FleetStore()
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1"], "a") }))
    store.apply(PodAdded({ pod: makePod({ name: "p1", namespace: "b", model: "base" }) }))
    store.apply(PodAdded({ pod: makePod({ name: "p2", namespace: "a", model: "base" }) }))
    expect(store.hasModel("lora")).toBe(false)
  })

  it("a pod that becomes tracked (gains its label) is mapped as it arrives", () => {
    const store = new FleetStore()
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1"]) }))
    store.apply(PodAdded({ pod: makePod({ name: "p1" }) }))
    expect(store.hasModel("lora")).toBe(false)
    store.apply(PodUpdated({ oldPod: makePod({ name: "p1" }), newPod: makePod({ name: "p1", model: "base" }) }))
    expect(podNames(store, "lora")).toEqual(["default/p1"])
  })

  it("a pod deleted and recreated under its name is mapped again at once", () => {
    const store = storeWith({ name: "p1", model: "base", uid: "u1" })
    store.apply(AdapterAdded({ adapter: makeAdapter("lora", ["p1"]) }))
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    expect(store.hasModel("lora")).toBe(false)
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "base", uid: "u2" }) }))
    expect(podNames(store, "lora")).toEqual(["default/p1"])
  })

  it("an adapter updated or deleted forgets the pods it waited for", () => {
    const store = new FleetStore()
    const adapter = makeAdapter("lora", ["p1", "p2"])
    store.apply(AdapterAdded({ adapter }))
    store.apply(AdapterUpdated({ oldAdapter: adapter, newAdapter: makeAdapter("lora", ["p2"]) }))
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "base" }) }))
    expect(store.hasModel("lora")).toBe(false)
    store.apply(AdapterDeleted({ adapter: makeAdapter("lora", ["p2"]) }))
    store.apply(PodAdded({ pod: makePod({ name: "p2", model: "base" }) }))
    expect(store.hasModel("lora")).toBe(false)
    expect(store.listModels()).toEqual(["base"])
  })

  it("two adapters waiting for one pod both map it", () => {
    const store = new FleetStore()
    store.apply(AdapterAdded({ adapter: makeAdapter("lora-a", ["p1"]) }))
    store.apply(AdapterAdded({ adapter: makeAdapter("lora-b", ["p1", "p1"]) }))
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "base" }) }))
    expect(modelsOf(store, "p1")).toEqual(["base", "lora-a", "lora-b"])
    store.apply(AdapterDeleted({ adapter: makeAdapter("lora-a", []) }))
    expect(modelsOf(store, "p1")).toEqual(["base", "lora-b"])
  })

  it("skips a malformed adapter", () => {
    const store = new FleetStore()
    expect(store.apply(AdapterAdded({ adapter: { status: { instances: ["p1"] } } }))?.reason).toMatch(
      /malformed ModelAdapter/
    )
  })
})

describe("FleetStore: request counters", () => {
  const routed = (store: FleetStore, requestId: string, name = "p1") =>
    RoutingContext.make({ model: "m", requestId }).setTargetPod(store.podEntry("default", name)!.pod)

  it("add/done pairs leave pending and running at zero", () => {
    const store = storeWith({ name: "p1", model: "m" })
    for (let i = 0; i < 5; i++) store.addRequest(routed(store, `r${i}`), `r${i}`, "m", 0)
    expect(store.pendingRequests("m")).toBe(5)
    expect(store.runningRequests("default/p1")).toBe(5)
    expect(store.podEntry("default", "p1")?.podMetrics.get(REALTIME_RUNNING_METRIC)).toEqual(MetricValue.simple(5))
    for (let i = 0; i < 5; i++) store.doneRequest(`r${i}`, 0)
    expect(store.pendingRequests("m")).toBe(0)
    expect(store.runningRequests("default/p1")).toBe(0)
    expect(store.podEntry("default", "p1")?.podMetrics.get(REALTIME_RUNNING_METRIC)).toEqual(MetricValue.simple(0))
    expect(store.inFlightCount).toBe(0)
  })

  it("pending counts only for a model that exists; running only when routed", () => {
    const store = storeWith({ name: "p1", model: "m" })
    store.addRequest(undefined, "r1", "unknown", 0)
    store.addRequest(RoutingContext.make({ model: "m", requestId: "r2" }), "r2", "m", 0)
    expect(store.pendingRequests("unknown")).toBe(0)
    expect(store.pendingRequests("m")).toBe(1)
    expect(store.runningRequests("default/p1")).toBe(0)
  })

  it("a done for an id never added or already done changes nothing", () => {
    const store = storeWith({ name: "p1", model: "m" })
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    store.addRequest(routed(store, "r2"), "r2", "m", 0)
    store.doneRequest("never-added", 0)
    store.doneRequest("r1", 0)
    store.doneRequest("r1", 0)
    expect(store.pendingRequests("m")).toBe(1)
    expect(store.runningRequests("default/p1")).toBe(1)
  })

  it("an id already in flight is not counted twice", () => {
    const store = storeWith({ name: "p1", model: "m" })
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    expect(store.pendingRequests("m")).toBe(1)
    store.doneRequest("r1", 0)
    expect(store.pendingRequests("m")).toBe(0)
  })

  it("a done after the pod was recreated does not touch the new pod", () => {
    const store = storeWith({ name: "p1", model: "m", uid: "u1" })
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m", uid: "u2" }) }))
    store.addRequest(routed(store, "r2"), "r2", "m", 0)
    store.doneRequest("r1", 0)
    expect(store.runningRequests("default/p1")).toBe(1)
    store.doneRequest("r2", 0)
    expect(store.runningRequests("default/p1")).toBe(0)
  })

  it("a context routed to a pod object that was since recreated counts nothing on the new pod", () => {
    const store = storeWith({ name: "p1", model: "m", uid: "u1" })
    const stale = routed(store, "r1")
    store.apply(PodUpdated({ oldPod: stale.targetPod!, newPod: makePod({ name: "p1", model: "m", uid: "u2" }) }))
    store.addRequest(stale, "r1", "m", 0)
    expect(store.runningRequests("default/p1")).toBe(0)
  })

  it("a done for a model and pod removed in between neither throws nor goes negative", () => {
    const store = storeWith({ name: "p1", model: "m" })
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    expect(() => store.doneRequest("r1", 0)).not.toThrow()
    expect(store.pendingRequests("m")).toBe(0)
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m" }) }))
    expect(store.pendingRequests("m")).toBe(0)
    expect(store.runningRequests("default/p1")).toBe(0)
  })

  it("other replicas' running counts add to the realtime metric; completed requests are counted", () => {
    const store = storeWith({ name: "p1", model: "m" })
    const entry = store.podEntry("default", "p1")!
    const realtime = () => entry.podMetrics.get(REALTIME_RUNNING_METRIC)
    store.setRemoteRunning(entry, 0)
    expect(realtime()).toBeUndefined()
    store.setRemoteRunning(entry, 4)
    expect(realtime()).toEqual(MetricValue.simple(4))
    store.addRequest(routed(store, "r1"), "r1", "m", 0)
    expect(realtime()).toEqual(MetricValue.simple(5))
    expect(store.runningRequests("default/p1")).toBe(1)
    store.doneRequest("r1", 0)
    expect(realtime()).toEqual(MetricValue.simple(4))
    expect(entry.completed).toBe(1)
    store.doneRequest("r1", 0)
    expect(entry.completed).toBe(1)
    store.setRemoteRunning(entry, 0)
    expect(realtime()).toEqual(MetricValue.simple(0))
    // An entry that left the store is not written to.
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    store.setRemoteRunning(entry, 7)
    expect(entry.remoteRunning).toBe(0)
  })

  it("pending survives its model's pods restarting", () => {
    const store = storeWith({ name: "p1", model: "m", uid: "u1" })
    store.addRequest(undefined, "r1", "m", 0)
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    store.apply(PodAdded({ pod: makePod({ name: "p1", model: "m", uid: "u2" }) }))
    expect(store.pendingRequests("m")).toBe(1)
    store.doneRequest("r1", 0)
    expect(store.pendingRequests("m")).toBe(0)
    // The model came back: its counter counts on, and goes only once the model leaves with nothing pending.
    store.addRequest(undefined, "r2", "m", 0)
    expect(store.pendingRequests("m")).toBe(1)
    store.doneRequest("r2", 0)
    expect(store.sizes().pendingModels).toBe(1)
    store.apply(PodDeletedByKey({ key: "default/p1" }))
    expect(store.sizes().pendingModels).toBe(0)
  })

  it("hands every add and done to the trace recorder exactly once", () => {
    const store = storeWith({ name: "p1", model: "m" })
    const { recorder, calls } = recordingTrace(7)
    store.setTraceRecorder(recorder)
    expect(store.addRequest(undefined, "r1", "m", 0)).toBe(7)
    expect(store.addRequest(undefined, "r1", "m", 0)).toBe(7)
    store.doneRequest("r1", 7, { input: 10, output: 20 })
    store.doneRequest("r1", 7, { input: 10, output: 20 })
    expect(calls).toEqual(["add m", "done m 7 10:20"])
    store.setTraceRecorder(undefined)
    expect(store.addRequest(undefined, "r2", "m", 0)).toBe(0)
  })
})

const storeWithPod = (): { store: FleetStore; entry: PodEntry } => {
  const store = new FleetStore()
  const pod = makePod({ name: "p1", model: "m1" })
  store.apply(DiscoveryEvent.PodAdded({ pod }))
  return { store, entry: store.podEntry("default", "p1")! }
}

const scrape = (
  pod: Record<string, MetricValue>,
  models: Record<string, Record<string, MetricValue>>
): EngineMetrics => ({
  pod: new Map(Object.entries(pod)),
  models: new Map(Object.entries(models).map(([model, values]) => [model, new Map(Object.entries(values))]))
})

describe("FleetStore engine metrics", () => {
  it("a scrape replaces the previous scrape's values in one step", () => {
    const { store, entry } = storeWithPod()
    store.replaceEngineMetrics(
      entry,
      scrape(
        { max_lora: MetricValue.label("4") },
        {
          m1: { num_requests_running: MetricValue.simple(1), num_requests_waiting: MetricValue.simple(2) },
          gone: { num_requests_running: MetricValue.simple(9) }
        }
      ),
      1_000
    )
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_waiting"), MetricValue.simple(2))
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(3) } }), 1_000)
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_running"), MetricValue.simple(3))
    assert.isFalse(entry.modelMetrics.get("m1")?.has("num_requests_waiting"))
    assert.isFalse(entry.modelMetrics.has("gone"))
    assert.isFalse(entry.podMetrics.has("max_lora"))
  })

  it("keeps the gateway's running count and PromQL values across scrapes and drops", () => {
    const { store, entry } = storeWithPod()
    store.addRequest(RoutingContext.make({ model: "m1", requestId: "r1" }).setTargetPod(entry.pod), "r1", "m1", 0)
    store.setEntryMetric(entry, undefined, "avg_ttft_5m_pod", MetricValue.simple(0.2))
    store.setEntryMetric(entry, "m1", "p95_ttft_5m", MetricValue.simple(0.4))
    store.replaceEngineMetrics(
      entry,
      scrape(
        { max_lora: MetricValue.label("4") },
        {
          m1: { num_requests_running: MetricValue.simple(1) }
        }
      ),
      1_000
    )
    store.replaceEngineMetrics(entry, scrape({}, {}), 1_000)
    assert.deepStrictEqual(entry.podMetrics.get(REALTIME_RUNNING_METRIC), MetricValue.simple(1))
    assert.deepStrictEqual(entry.podMetrics.get("avg_ttft_5m_pod"), MetricValue.simple(0.2))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("p95_ttft_5m"), MetricValue.simple(0.4))
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(1) } }), 1_000)
    store.dropEngineMetrics(entry)
    assert.isFalse(entry.modelMetrics.get("m1")?.has("num_requests_running"))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("p95_ttft_5m"), MetricValue.simple(0.4))
    assert.deepStrictEqual(entry.podMetrics.get(REALTIME_RUNNING_METRIC), MetricValue.simple(1))
  })

  it("the same values again keep what is in place and take the new scrape's time", () => {
    const { store, entry } = storeWithPod()
    const values = scrape({ max_lora: MetricValue.label("4") }, { m1: { num_requests_running: MetricValue.simple(1) } })
    store.replaceEngineMetrics(entry, values, 1_000)
    assert.isTrue(store.replaceEngineMetrics(entry, values, 1_050))
    assert.strictEqual(entry.engineScrapedAt, 1_050)
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_running"), MetricValue.simple(1))
    assert.deepStrictEqual(entry.podMetrics.get("max_lora"), MetricValue.label("4"))
    // Dropped, then the same values: written again.
    store.dropEngineMetrics(entry)
    store.replaceEngineMetrics(entry, values, 1_100)
    assert.deepStrictEqual(entry.podMetrics.get("max_lora"), MetricValue.label("4"))
  })

  it("a pod is stale without a good scrape, or once its last one is older than the stale horizon; a drop leaves it stale", () => {
    const { store, entry } = storeWithPod()
    store.setEngineFreshness({ staleAfterMs: 500, dropAfterMs: 10_000 })
    assert.isTrue(store.isEngineStale(entry, 0), "never scraped")
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(1) } }), 1_000)
    assert.isFalse(store.isEngineStale(entry, 1_500))
    assert.isTrue(store.isEngineStale(entry, 1_501))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_running"), MetricValue.simple(1))
    store.dropEngineMetrics(entry)
    assert.isUndefined(entry.engineScrapedAt)
    assert.isTrue(store.isEngineStale(entry, 1_000))
    assert.isFalse(entry.modelMetrics.has("m1"))
  })

  it("never writes to an entry that left the store, nor to the pod recreated under its name", () => {
    const { store, entry } = storeWithPod()
    store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p1" }))
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1", uid: "other" }) }))
    const recreated = store.podEntry("default", "p1")!
    assert.isFalse(
      store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(1) } }), 1_000)
    )
    assert.isFalse(store.setEntryMetric(entry, undefined, "avg_ttft_5m_pod", MetricValue.simple(1)))
    assert.strictEqual(recreated.modelMetrics.size, 0)
    assert.strictEqual(recreated.podMetrics.size, 0)
  })
})

describe("FleetStore PodUpdated", () => {
  it("a rename removes the old key even when the old object is otherwise malformed", () => {
    const store = new FleetStore()
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1" }) }))
    const malformedOld = { metadata: { name: "p1", namespace: "default", labels: 7 } } as unknown as V1Pod
    const rejection = store.apply(
      DiscoveryEvent.PodUpdated({ oldPod: malformedOld, newPod: makePod({ name: "p2", model: "m1" }) })
    )
    assert.isUndefined(rejection)
    assert.deepStrictEqual(
      Array.from(store.podEntries(), (entry) => entry.key),
      ["default/p2"]
    )
  })

  it("an old object without a name is only a missing rename, the new pod is stored", () => {
    const store = new FleetStore()
    store.apply(DiscoveryEvent.PodUpdated({ oldPod: {}, newPod: makePod({ name: "p1", model: "m1" }) }))
    assert.isTrue(store.hasModel("m1"))
  })

  it("a malformed new object is rejected and changes nothing", () => {
    const store = new FleetStore()
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1" }) }))
    const rejection = store.apply(
      DiscoveryEvent.PodUpdated({ oldPod: makePod({ name: "p1", model: "m1" }), newPod: {} })
    )
    assert.strictEqual(rejection?.event, "PodUpdated")
    assert.isTrue(store.hasModel("m1"))
  })
})
