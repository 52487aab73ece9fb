/**
 * What the cache reads from a Kubernetes pod: its key, its base model, whether
 * it is tracked at all, whether it is ready to take requests, and where its
 * engine serves metrics.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Schema } from "effect"
import { explainMismatch } from "./internal/Validation.ts"

/**
 * The label that names a pod's base model. A model name a label value cannot
 * hold (one with `/`) goes in the annotation of the same key; the label wins
 * when both are set. Pods with neither are not tracked.
 */
export const MODEL_LABEL = "model.aibrix.ai/name"
/** The annotation read for the base model when the label is absent or empty. */
export const MODEL_ANNOTATION = MODEL_LABEL
/** The label that overrides the engine's metrics port. */
export const METRIC_PORT_LABEL = "model.aibrix.ai/metric-port"
/** The label that names the pod's inference engine (`vllm`, `sglang`, `trtllm`, `xllm`). */
export const ENGINE_LABEL = "model.aibrix.ai/engine"
/** Ray worker pods carry this label with the value `worker`; they are never tracked. */
export const RAY_NODE_TYPE_LABEL = "ray.io/node-type"
/**
 * A StormService pod group's member index: only the group's leader (index 0)
 * serves; members with an integer index above 0 are never tracked.
 */
export const POD_GROUP_INDEX_LABEL = "stormservice.orchestration.aibrix.ai/pod-group-index"
/** The label that groups pods by deployment in a `PodList`'s index. */
export const DEPLOYMENT_LABEL = "app.kubernetes.io/name"

export const DEFAULT_NAMESPACE = "default"
export const DEFAULT_METRIC_PORT = 8000

/** A pod's identity in the cache: `namespace/name`. */
export type PodKey = string

export const podKey = (namespace: string, name: string): PodKey => `${namespace}/${name}`

const PodCondition = Schema.Struct({
  type: Schema.String,
  status: Schema.String
})

/**
 * The fields of a `V1Pod` the cache reads, and nothing else: a pod that does not
 * match is malformed and skipped.
 */
export const PodFields = Schema.Struct({
  metadata: Schema.Struct({
    name: Schema.NonEmptyString,
    namespace: Schema.optional(Schema.NullOr(Schema.String)),
    uid: Schema.optional(Schema.NullOr(Schema.String)),
    labels: Schema.optional(Schema.NullOr(Schema.Record(Schema.String, Schema.String))),
    annotations: Schema.optional(Schema.NullOr(Schema.Record(Schema.String, Schema.String)))
  }),
  status: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        podIP: Schema.optional(Schema.NullOr(Schema.String)),
        conditions: Schema.optional(Schema.NullOr(Schema.Array(PodCondition)))
      })
    )
  )
})

/** A pod whose fields the cache reads are known to be well formed. */
export type ValidPod = V1Pod & { readonly metadata: { readonly name: string } }

/** `PodFields` as a Schema guard: the definition the fast guard below must agree with. */
export const matchesPodFields: (pod: unknown) => boolean = Schema.is(PodFields)

const isStruct = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isAbsent = (value: unknown): boolean => value === undefined || value === null

const isOptionalString = (value: unknown): boolean => isAbsent(value) || typeof value === "string"

/** Labels or annotations: absent, or an object of strings. */
const isOptionalStringRecord = (value: unknown): boolean => {
  if (isAbsent(value)) return true
  if (!isStruct(value)) return false
  for (const key in value) if (Object.hasOwn(value, key) && typeof value[key] !== "string") return false
  return true
}

const isOptionalConditions = (value: unknown): boolean => {
  if (isAbsent(value)) return true
  if (!Array.isArray(value)) return false
  for (let i = 0; i < value.length; i++) {
    const condition: unknown = value[i]
    if (!isStruct(condition) || typeof condition.type !== "string" || typeof condition.status !== "string") return false
  }
  return true
}

/**
 * Whether a pod matches `PodFields`. It runs for every discovery event, so it
 * is written out by hand: the same rules as `matchesPodFields` (a property
 * test holds the two together) at a small part of the cost.
 */
export const isValidPod = (pod: unknown): pod is ValidPod => {
  if (!isStruct(pod)) return false
  const metadata = pod.metadata
  if (!isStruct(metadata) || typeof metadata.name !== "string" || metadata.name.length === 0) return false
  if (!isOptionalString(metadata.namespace) || !isOptionalString(metadata.uid)) return false
  if (!isOptionalStringRecord(metadata.labels) || !isOptionalStringRecord(metadata.annotations)) return false
  const status = pod.status
  if (isAbsent(status)) return true
  return isStruct(status) && isOptionalString(status.podIP) && isOptionalConditions(status.conditions)
}

/** Explains why a pod is malformed, for the log line that skips it. */
export const describeInvalidPod: (pod: unknown) => string = explainMismatch(PodFields)

export const namespaceOf = (pod: V1Pod): string => pod.metadata?.namespace || DEFAULT_NAMESPACE

export const keyOf = (pod: ValidPod): PodKey => podKey(namespaceOf(pod), pod.metadata.name)

export const labelOf = (pod: V1Pod, label: string): string | undefined => pod.metadata?.labels?.[label] ?? undefined

export const annotationOf = (pod: V1Pod, annotation: string): string | undefined =>
  pod.metadata?.annotations?.[annotation] ?? undefined

/** The pod's base model: its model label, else its model annotation (empty counts as absent). */
export const baseModelOf = (pod: V1Pod): string | undefined =>
  labelOf(pod, MODEL_LABEL) || annotationOf(pod, MODEL_ANNOTATION) || undefined

export const isRayWorker = (pod: V1Pod): boolean => labelOf(pod, RAY_NODE_TYPE_LABEL) === "worker"

/** A decimal integer with an optional sign, as Go's `strconv.Atoi` reads one. */
const INTEGER = /^[+-]?\d+$/

/** A member of a StormService pod group other than its leader: an integer index above 0. */
export const isPodGroupMember = (pod: V1Pod): boolean => {
  const index = labelOf(pod, POD_GROUP_INDEX_LABEL)
  return index !== undefined && INTEGER.test(index) && Number(index) > 0
}

/**
 * The base model of a tracked pod, undefined for a pod that is not tracked: a
 * pod is tracked when it names a base model and is neither a Ray worker nor a
 * pod-group member above 0. Reads only the pod's metadata.
 */
export const trackedModelOf = (pod: V1Pod): string | undefined => {
  const model = baseModelOf(pod)
  return model === undefined || isRayWorker(pod) || isPodGroupMember(pod) ? undefined : model
}

export const isTracked = (pod: V1Pod): boolean => trackedModelOf(pod) !== undefined

export const podIpOf = (pod: V1Pod): string => pod.status?.podIP ?? ""

export const uidOf = (pod: V1Pod): string => pod.metadata?.uid ?? ""

/** Routable: has an IP, is not being deleted, and its `Ready` condition is `True`. */
export const isReady = (pod: V1Pod): boolean =>
  podIpOf(pod) !== "" &&
  pod.metadata?.deletionTimestamp == null &&
  (pod.status?.conditions?.some((condition) => condition.type === "Ready" && condition.status === "True") ?? false)

/** The engine's metrics port: the metric-port label when it is a valid port, else 8000. */
export const metricPortOf = (pod: V1Pod): number => {
  const label = labelOf(pod, METRIC_PORT_LABEL)
  if (label === undefined || !/^\d{1,5}$/.test(label)) return DEFAULT_METRIC_PORT
  const port = Number(label)
  return port >= 1 && port <= 65535 ? port : DEFAULT_METRIC_PORT
}

/** The engine the pod's engine label names, as written; undefined without one. */
export const engineLabelOf = (pod: V1Pod): string | undefined => labelOf(pod, ENGINE_LABEL) || undefined

/** The deployment group of a pod in a `PodList` index ("" when unlabelled). */
export const deploymentOf = (pod: V1Pod): string => labelOf(pod, DEPLOYMENT_LABEL) ?? ""
