/** The fleet the hot-path benchmarks run on: 100 ready pods serving 10 models. */
import type { V1Pod } from "@kubernetes/client-node"
import { RoutingContext } from "../src/store/RoutingContext.ts"

const POD_COUNT = 100
const MODEL_COUNT = 10

export const makePods = (): ReadonlyArray<V1Pod> =>
  Array.from({ length: POD_COUNT }, (_, i) => ({
    metadata: {
      name: `pod-${i}`,
      namespace: "default",
      uid: `uid-${i}`,
      labels: { "model.aibrix.ai/name": `model-${i % MODEL_COUNT}` }
    },
    status: { podIP: `10.0.${i >> 8}.${i & 255}`, conditions: [{ type: "Ready", status: "True" }] }
  }))

/** 1,024 contexts routed round-robin over the pods, each to a pod of its model. */
export const makeContexts = (pods: ReadonlyArray<V1Pod>): ReadonlyArray<RoutingContext> =>
  Array.from({ length: 1024 }, (_, i) => {
    const pod = pods[i % pods.length]!
    const model = pod.metadata!.labels!["model.aibrix.ai/name"]!
    return RoutingContext.make({ model, requestId: `request-${i}` }).setTargetPod(pod)
  })
