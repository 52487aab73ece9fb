/**
 * A `ModelAdapter` custom resource (`model.aibrix.ai/v1alpha1`, plural
 * `modeladapters`): a LoRA adapter loaded on the pods its status lists.
 */
import { Schema } from "effect"
import { explainMismatch } from "./internal/Validation.ts"
import { DEFAULT_NAMESPACE, podKey, type PodKey } from "./Pod.ts"

export const GROUP = "model.aibrix.ai"
export const VERSION = "v1alpha1"
export const PLURAL = "modeladapters"

/** The fields of a `ModelAdapter` the cache reads. */
export const ModelAdapterFields = Schema.Struct({
  metadata: Schema.Struct({
    name: Schema.NonEmptyString,
    namespace: Schema.optional(Schema.NullOr(Schema.String))
  }),
  status: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        instances: Schema.optional(Schema.NullOr(Schema.Array(Schema.String)))
      })
    )
  )
})

/** A `ModelAdapter` as Kubernetes serves it: an object with at least these fields. */
export interface ModelAdapter {
  readonly apiVersion?: string
  readonly kind?: string
  readonly metadata?: {
    readonly name?: string
    readonly namespace?: string
    readonly [key: string]: unknown
  }
  readonly spec?: unknown
  readonly status?: {
    readonly instances?: ReadonlyArray<string>
    readonly [key: string]: unknown
  }
}

export type ValidModelAdapter = ModelAdapter & { readonly metadata: { readonly name: string } }

export const isValidModelAdapter: (adapter: unknown) => adapter is ValidModelAdapter = Schema.is(
  ModelAdapterFields
) as (adapter: unknown) => adapter is ValidModelAdapter

export const describeInvalidAdapter: (adapter: unknown) => string = explainMismatch(ModelAdapterFields)

export const adapterNamespaceOf = (adapter: ValidModelAdapter): string =>
  adapter.metadata.namespace || DEFAULT_NAMESPACE

export const adapterKeyOf = (adapter: ValidModelAdapter): string =>
  podKey(adapterNamespaceOf(adapter), adapter.metadata.name)

/** The keys of the pods the adapter's status lists, in the adapter's namespace. */
export const instanceKeysOf = (adapter: ValidModelAdapter): ReadonlyArray<PodKey> => {
  const namespace = adapterNamespaceOf(adapter)
  return (adapter.status?.instances ?? []).map((name) => podKey(namespace, name))
}
