/**
 * From informer callbacks to discovery events. The client's update callback
 * gives only the new object, so the last object seen per key is kept: it is
 * the old side of `PodUpdated`/`AdapterUpdated`, and what a delete removes.
 * Only pods the store tracks are kept and passed on; a pod that stops being
 * tracked is passed on as deleted.
 */
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node"
import { DiscoveryEvent } from "../../store/DiscoveryEvent.ts"
import { isNamedObject } from "./KubernetesList.ts"
import { isValidModelAdapter, type ModelAdapter } from "../../store/ModelAdapter.ts"
import { isTracked, isValidPod, namespaceOf, podKey } from "../../store/Pod.ts"
import type { InformerHandlers } from "./SupervisedInformer.ts"

export type Emit = (event: DiscoveryEvent) => void

/** `namespace/name` of any object (the default namespace when it has none). */
const keyOfObject = (object: KubernetesObject): string | undefined => {
  const name = object.metadata?.name
  return name === undefined ? undefined : podKey(namespaceOf(object), name)
}

/** The object callbacks of an informer, and the objects as last seen. */
export interface TrackedObjects<A> extends Omit<InformerHandlers<A>, "listing" | "listed"> {
  readonly current: () => Iterable<A>
}

const track = <A extends KubernetesObject>(
  isTracked: (object: A) => boolean,
  changed: (previous: A | undefined, object: A) => DiscoveryEvent,
  removed: (previous: A, key: string) => DiscoveryEvent,
  emit: Emit
): TrackedObjects<A> => {
  const last = new Map<string, A>()
  const remove = (key: string) => {
    const previous = last.get(key)
    if (previous === undefined) return
    last.delete(key)
    emit(removed(previous, key))
  }
  const upsert = (object: A) => {
    const key = keyOfObject(object)
    if (key === undefined) return
    if (!isTracked(object)) return remove(key)
    const previous = last.get(key)
    last.set(key, object)
    emit(changed(previous, object))
  }
  return {
    added: upsert,
    updated: upsert,
    deleted: (object) => {
      const key = keyOfObject(object)
      if (key !== undefined) remove(key)
    },
    current: () => last.values()
  }
}

/** A pod as the informer delivers it: plain JSON with at least a name. */
export const isPodObject = (item: unknown): item is V1Pod => isNamedObject(item)

/**
 * What the pod informer keeps of a pod: all of a tracked one; of any other,
 * only its key and version (all the informer needs), not the rest of a pod
 * the store would never read.
 */
export const keepPod = (pod: V1Pod): V1Pod => {
  if (isTracked(pod)) return pod
  const metadata = pod.metadata ?? {}
  return {
    metadata: {
      ...(metadata.name === undefined ? {} : { name: metadata.name }),
      ...(metadata.namespace === undefined ? {} : { namespace: metadata.namespace }),
      ...(metadata.resourceVersion === undefined ? {} : { resourceVersion: metadata.resourceVersion })
    }
  }
}

/** A ModelAdapter as the informer delivers it. */
export type AdapterObject = KubernetesObject & ModelAdapter

export const isAdapterObject = (item: unknown): item is AdapterObject => isNamedObject(item)

/** Pods the store tracks: added, updated (old, new), deleted (as last seen, else by key). */
export const trackPods = (emit: Emit): TrackedObjects<V1Pod> =>
  track<V1Pod>(
    isTracked,
    (oldPod, newPod) =>
      oldPod === undefined ? DiscoveryEvent.PodAdded({ pod: newPod }) : DiscoveryEvent.PodUpdated({ oldPod, newPod }),
    // A pod last seen malformed was never stored under that object: delete by key.
    (previous, key) =>
      isValidPod(previous) ? DiscoveryEvent.PodDeleted({ pod: previous }) : DiscoveryEvent.PodDeletedByKey({ key }),
    emit
  )

/** The name and namespace of a `namespace/name` key (namespaces hold no `/`). */
const adapterMetadataOf = (key: string): { readonly name: string; readonly namespace: string } => {
  const slash = key.indexOf("/")
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) }
}

/** ModelAdapters: added, updated (old, new), deleted (as last seen, else by its key alone). */
export const trackAdapters = (emit: Emit): TrackedObjects<AdapterObject> =>
  track<AdapterObject>(
    () => true,
    (oldAdapter, newAdapter) =>
      oldAdapter === undefined
        ? DiscoveryEvent.AdapterAdded({ adapter: newAdapter })
        : DiscoveryEvent.AdapterUpdated({ oldAdapter, newAdapter }),
    (previous, key) =>
      DiscoveryEvent.AdapterDeleted({
        adapter: isValidModelAdapter(previous) ? previous : { metadata: adapterMetadataOf(key) }
      }),
    emit
  )
