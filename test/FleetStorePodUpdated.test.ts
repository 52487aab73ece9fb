/** `PodUpdated` reads only the old object's key: a rename is handled even when the rest of it is malformed. */
import { assert, describe, it } from "@effect/vitest"
import type { V1Pod } from "@kubernetes/client-node"
import { DiscoveryEvent } from "../src/DiscoveryEvent.ts"
import { FleetStore } from "../src/FleetStore.ts"
import { makePod } from "./fixtures.ts"

describe("FleetStore PodUpdated", () => {
  it("a rename removes the old key even when the old object is otherwise malformed", () => {
    const store = new FleetStore()
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1" }) }))
    const malformedOld = { metadata: { name: "p1", namespace: "default", labels: 7 } } as unknown as V1Pod
    const rejection = store.apply(
      DiscoveryEvent.PodUpdated({ oldPod: malformedOld, newPod: makePod({ name: "p2", model: "m1" }) })
    )
    assert.isUndefined(rejection)
    assert.deepStrictEqual(Array.from(store.podEntries(), (entry) => entry.key), ["default/p2"])
  })

  it("an old object without a name is only a missing rename, the new pod is stored", () => {
    const store = new FleetStore()
    store.apply(DiscoveryEvent.PodUpdated({ oldPod: {}, newPod: makePod({ name: "p1", model: "m1" }) }))
    assert.isTrue(store.hasModel("m1"))
  })

  it("a malformed new object is rejected and changes nothing", () => {
    const store = new FleetStore()
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1" }) }))
    const rejection = store.apply(DiscoveryEvent.PodUpdated({ oldPod: makePod({ name: "p1", model: "m1" }), newPod: {} }))
    assert.strictEqual(rejection?.event, "PodUpdated")
    assert.isTrue(store.hasModel("m1"))
  })
})
