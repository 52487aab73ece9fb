/**
 * The one interface through which discovery sources (Kubernetes informers, a
 * static file, tests) tell the store what changed in the fleet.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Data } from "effect"
import type { ModelAdapter } from "./ModelAdapter.ts"
import type { PodKey } from "./Pod.ts"

export type DiscoveryEvent = Data.TaggedEnum<{
  PodAdded: { readonly pod: V1Pod }
  PodUpdated: { readonly oldPod: V1Pod; readonly newPod: V1Pod }
  PodDeleted: { readonly pod: V1Pod }
  /** A deletion known only by the pod's `namespace/name` key (a tombstone). */
  PodDeletedByKey: { readonly key: PodKey }
  AdapterAdded: { readonly adapter: ModelAdapter }
  AdapterUpdated: { readonly oldAdapter: ModelAdapter; readonly newAdapter: ModelAdapter }
  AdapterDeleted: { readonly adapter: ModelAdapter }
}>

export const DiscoveryEvent = Data.taggedEnum<DiscoveryEvent>()
