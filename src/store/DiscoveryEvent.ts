/**
 * The one interface through which discovery sources (Kubernetes informers, a
 * static file, tests) tell the store what changed in the fleet.
 *
 * A pod is identified by its key, `namespace/name` (the default namespace when
 * it has none); an adapter by its own `namespace/name`. An event says what a
 * source observed, and the store keeps the latest state of each key: it is
 * level-based, not a log of edits. So:
 *
 * - Events of one key must reach the store in the order the source observed
 *   them. Events of different keys may interleave in any order.
 * - A source may skip intermediate states of a key (the latest one is all that
 *   counts) and may repeat itself: an add for a key the store holds is an
 *   update, an update for a key it lacks is an add, a delete for a key it
 *   lacks does nothing. A relist may therefore replay every object as added.
 * - What the store keeps is the very object the event carries (`getPod`
 *   returns it): a source must not change an object after handing it over.
 *
 * Pods. `PodAdded` and `PodUpdated` carry the pod as now observed. Of
 * `PodUpdated`'s `oldPod` only the key is read: when it differs from the new
 * pod's (a rename), the old key is removed first. Whether an update is the
 * same running engine is decided by the store, not the event: same key, UID
 * and pod IP keep the pod's adapters, metrics and running count; anything else
 * replaces it as a new pod, and a pod that no longer names its model (or
 * became a worker the cache does not track) is gone. `PodDeleted` carries the
 * last state the source knew, which need not still name the model;
 * `PodDeletedByKey` is the tombstone for a pod known only by its key. Either
 * removes the pod and every mapping, metric and count it had.
 *
 * Adapters. `AdapterAdded` maps the adapter to each pod of its
 * `status.instances` (pod names in the adapter's namespace); a listed pod the
 * store does not hold yet is remembered, and mapped the moment a pod of that
 * key arrives, late or recreated. `AdapterUpdated` removes what `oldAdapter`
 * mapped and remembered and applies `newAdapter`; `AdapterDeleted` removes its
 * mappings and what it remembered. A source need not apply an adapter again
 * after its pods.
 *
 * A malformed object (one whose fields the cache reads do not have the shape
 * it needs) is logged and skipped, never thrown; the events around it apply.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Data } from "effect"
import type { ModelAdapter } from "./ModelAdapter.ts"
import type { PodKey } from "./Pod.ts"

export type DiscoveryEvent = Data.TaggedEnum<{
  /** A pod observed for the first time (or again, after a relist). */
  PodAdded: { readonly pod: V1Pod }
  /** A pod's new state; `oldPod` is the state before, of which only the key is read. */
  PodUpdated: { readonly oldPod: V1Pod; readonly newPod: V1Pod }
  /** A pod gone, with the last state the source knew. */
  PodDeleted: { readonly pod: V1Pod }
  /** A deletion known only by the pod's `namespace/name` key (a tombstone). */
  PodDeletedByKey: { readonly key: PodKey }
  /** An adapter observed: its listed pods are mapped to it, and those not known yet remembered. */
  AdapterAdded: { readonly adapter: ModelAdapter }
  /** An adapter's new state: the old mappings removed, the new ones applied. */
  AdapterUpdated: { readonly oldAdapter: ModelAdapter; readonly newAdapter: ModelAdapter }
  /** An adapter gone: its mappings removed, and what it remembered. */
  AdapterDeleted: { readonly adapter: ModelAdapter }
}>

export const DiscoveryEvent = Data.taggedEnum<DiscoveryEvent>()
