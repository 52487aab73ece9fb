/** Pods and adapters for tests, built the way Kubernetes serves them. */
import type { V1Pod } from "@kubernetes/client-node"
import type { ModelAdapter } from "../../src/store/ModelAdapter.ts"
import { MODEL_LABEL } from "../../src/store/Pod.ts"

export interface PodOptions {
  readonly name: string
  readonly namespace?: string | undefined
  readonly model?: string | undefined
  readonly uid?: string | undefined
  readonly ip?: string | undefined
  readonly ready?: boolean
  readonly labels?: Record<string, string>
  readonly annotations?: Record<string, string>
  readonly deleting?: boolean
}

export const makePod = (options: PodOptions): V1Pod => {
  const namespace = options.namespace ?? "default"
  const labels: Record<string, string> = { ...options.labels }
  if (options.model !== undefined) labels[MODEL_LABEL] = options.model
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: options.name,
      namespace,
      uid: options.uid ?? `uid-${namespace}-${options.name}`,
      labels,
      ...(options.annotations === undefined ? {} : { annotations: { ...options.annotations } }),
      ...(options.deleting === true ? { deletionTimestamp: new Date() } : {})
    },
    status: {
      ...(options.ip === "" ? {} : { podIP: options.ip ?? "10.0.0.1" }),
      conditions: [{ type: "Ready", status: options.ready === false ? "False" : "True" }]
    }
  }
}

export const makeAdapter = (name: string, instances: ReadonlyArray<string>, namespace = "default"): ModelAdapter => ({
  apiVersion: "model.aibrix.ai/v1alpha1",
  kind: "ModelAdapter",
  metadata: { name, namespace },
  status: { instances: [...instances] }
})
