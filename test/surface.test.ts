/** The package's two entry points: what they must export, and the store they must not hand out. */
import { describe, expect, it } from "vitest"
import * as layers from "../layers/index.ts"
import * as root from "../src/index.ts"
import { makePod } from "./support/fixtures.ts"

describe("the public surface", () => {
  it("the root exports the spec's names and those other code relies on", () => {
    for (const name of [
      "Cache",
      "PodCache",
      "ModelCache",
      "MetricCache",
      "RequestTracker",
      "CacheReadiness",
      "CacheWriter",
      "DiscoveryEvent",
      "RoutingContext",
      "PodList",
      "MetricValue",
      "Simple",
      "Histogram",
      "Prometheus",
      "Label",
      "PodNotFound",
      "ModelNotFound",
      "MetricNotFound",
      "MetricRefresh",
      "Redis"
    ]) {
      expect(root, name).toHaveProperty(name)
    }
    const pod = makePod({ name: "p1", model: "m" })
    for (const event of [
      root.DiscoveryEvent.PodAdded({ pod }),
      root.DiscoveryEvent.PodUpdated({ oldPod: pod, newPod: pod }),
      root.DiscoveryEvent.PodDeleted({ pod }),
      root.DiscoveryEvent.PodDeletedByKey({ key: "default/p1" })
    ]) {
      expect(event._tag).toMatch(/^Pod/)
    }
    const ctx = root.RoutingContext.make({ model: "m", requestId: "r" })
    expect(ctx.hasRouted).toBe(false)
    expect(ctx.setTargetPod(pod).targetPod).toBe(pod)
    expect(root.MetricValue.simple(1)._tag).toBe("Simple")
  })

  it("the root hands out no mutable store", () => {
    for (const name of ["FleetStore", "PodEntry", "CacheStore", "TraceFlusher", "RequestTrace", "ReplicaSync"]) {
      expect(root, name).not.toHaveProperty(name)
    }
  })

  it("layers exports each layer under one name, the spec's among them", () => {
    expect(Object.keys(layers).sort()).toEqual([
      "init",
      "initForGateway",
      "initForMetadata",
      "initForTest",
      "initFromSource",
      "initStatic",
      "kubernetesDiscovery",
      "newTestCacheWithPods",
      "newTestCacheWithPodsMetrics",
      "staticDiscovery",
      "withMetricRefresh",
      "withReplicaSync",
      "withReplicaSyncWhenEnabled",
      "withRequestLifetime",
      "withRequestTrace",
      "withSource",
      "withTraceWhenEnabled"
    ])
  })
})
