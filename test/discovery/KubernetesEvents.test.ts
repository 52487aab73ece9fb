/** From informer callbacks to discovery events: only tracked pods pass, and what the informer keeps of the others. */
import { assert, describe, it } from "@effect/vitest"
import type { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { keepPod, trackAdapters, trackPods } from "../../src/discovery/internal/KubernetesEvents.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { isCollected } from "../support/garbage.ts"

const recorder = () => {
  const events: Array<DiscoveryEvent> = []
  return { events, emit: (event: DiscoveryEvent) => void events.push(event) }
}

const tagsOf = (events: ReadonlyArray<DiscoveryEvent>) => events.map((event) => event._tag)

describe("trackPods", () => {
  it("passes on tracked pods only, and a pod that stops being tracked as deleted", () => {
    const { emit, events } = recorder()
    const pods = trackPods(emit)
    pods.added(makePod({ name: "plain" }))
    pods.updated(makePod({ name: "plain", labels: { team: "web" } }))
    pods.deleted(makePod({ name: "plain" }))
    assert.deepStrictEqual(events, [])

    const served = makePod({ name: "p1", model: "m1" })
    pods.added(served)
    pods.updated(makePod({ name: "p1", model: "m1", ready: false }))
    pods.updated(makePod({ name: "p1" }))
    assert.deepStrictEqual(tagsOf(events), ["PodAdded", "PodUpdated", "PodDeleted"])
    assert.deepStrictEqual(Array.from(pods.current()), [])
    pods.deleted(makePod({ name: "p1" }))
    assert.strictEqual(events.length, 3)
  })

  it("a pod last seen malformed is deleted by its key", () => {
    const { emit, events } = recorder()
    const pods = trackPods(emit)
    const malformed = { metadata: { name: "p1", labels: { "model.aibrix.ai/name": "m1" }, uid: 7 } }
    pods.added(malformed as never)
    pods.deleted(malformed as never)
    assert.deepStrictEqual(events[1], { _tag: "PodDeletedByKey", key: "default/p1" } as DiscoveryEvent)
  })
})

describe("trackAdapters", () => {
  it("an adapter last seen malformed is deleted by its name and namespace", () => {
    const { emit, events } = recorder()
    const adapters = trackAdapters(emit)
    adapters.added({ metadata: { name: "lora", namespace: "team" }, status: { instances: "p1" } } as never)
    adapters.deleted({ metadata: { name: "lora", namespace: "team" } })
    const deleted = events[1]
    assert.strictEqual(deleted?._tag, "AdapterDeleted")
    if (deleted?._tag === "AdapterDeleted")
      assert.deepStrictEqual(deleted.adapter, { metadata: { name: "lora", namespace: "team" } })
    adapters.added(makeAdapter("lora", ["p1"]))
    assert.strictEqual(events[2]?._tag, "AdapterAdded")
  })
})

describe("keepPod", () => {
  it("keeps a tracked pod whole, and of any other only its name, namespace and version", () => {
    const tracked = makePod({ name: "p1", model: "m1" })
    assert.strictEqual(keepPod(tracked), tracked)
    const other = {
      ...makePod({ name: "p2", namespace: "web" }),
      metadata: { ...makePod({ name: "p2", namespace: "web" }).metadata, resourceVersion: "42" }
    }
    assert.deepStrictEqual(keepPod(other), { metadata: { name: "p2", namespace: "web", resourceVersion: "42" } })
    const worker = makePod({ name: "w", model: "m1", labels: { "ray.io/node-type": "worker" } })
    assert.deepStrictEqual(keepPod(worker), { metadata: { name: "w", namespace: "default" } })
  })
})

describe("the objects last seen", () => {
  it("a deleted pod or adapter, or a pod no longer tracked, is let go", async () => {
    // The events, which carry the objects, are passed on and not kept.
    const emit = () => {}
    const pods = trackPods(emit)
    const adapters = trackAdapters(emit)
    const refs = (() => {
      const deleted = makePod({ name: "p1", model: "m1" })
      const untracked = makePod({ name: "p2", model: "m1" })
      const adapter = makeAdapter("lora", ["p1", "never"])
      pods.added(deleted)
      pods.added(untracked)
      adapters.added(adapter)
      pods.deleted(makePod({ name: "p1", model: "m1" }))
      pods.updated(makePod({ name: "p2" }))
      adapters.deleted({ metadata: { name: "lora", namespace: "default" } })
      return [new WeakRef(deleted), new WeakRef(untracked), new WeakRef(adapter)]
    })()
    assert.deepStrictEqual(Array.from(pods.current()), [])
    assert.deepStrictEqual(Array.from(adapters.current()), [])
    for (const ref of refs) assert.isTrue(await isCollected(ref))
  })
})
