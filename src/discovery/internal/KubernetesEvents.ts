/**
 * From informer callbacks to discovery events. The client's update callback
 * gives only the new object, so the last object seen per key is kept: it is
 * the old side of `PodUpdated`/`AdapterUpdated`, and what a delete removes.
 */
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node"
import { DiscoveryEvent } from "../../store/DiscoveryEvent.ts"
import { isNamedObject } from "./KubernetesList.ts"
import { isValidModelAdapter, type ModelAdapter } from "../../store/ModelAdapter.ts"
import { isValidPod, namespaceOf, podKey } from "../../store/Pod.ts"
import type { InformerHandlers } from "./SupervisedInformer.ts"

export type Emit = (event: DiscoveryEvent) => void

/** `namespace/name` of any object (the default namespace when it has none). */
const keyOfObject = (object: KubernetesObject): string | undefined => {
  const name = object.metadata?.name
  return name === undefined ? undefined : podKey(namespaceOf(object), name)
}

/** The object callbacks of an informer, and the objects as last seen. */
export interface TrackedObjects<A> extends Omit<InformerHandlers<A>, "listed"> {
  readonly current: () => Iterable<A>
}

const track = <A extends KubernetesObject>(
  changed: (previous: A | undefined, object: A) => DiscoveryEvent,
  removed: (previous: A | undefined, object: A, key: string) => DiscoveryEvent,
  emit: Emit
): TrackedObjects<A> => {
  const last = new Map<string, A>()
  const upsert = (object: A) => {
    const key = keyOfObject(object)
    if (key === undefined) return
    const previous = last.get(key)
    last.set(key, object)
    emit(changed(previous, object))
  }
  return {
    added: upsert,
    updated: upsert,
    deleted: (object) => {
      const key = keyOfObject(object)
      if (key === undefined) return
      const previous = last.get(key)
      last.delete(key)
      emit(removed(previous, object, key))
    },
    current: () => last.values()
  }
}

/** Pods: added, updated (old, new), deleted (as last seen, else by key). */
/** A pod as the informer delivers it: plain JSON with at least a name. */
export const isPodObject = (item: unknown): item is V1Pod => isNamedObject(item)

/** A ModelAdapter as the informer delivers it. */
export type AdapterObject = KubernetesObject & ModelAdapter

export const isAdapterObject = (item: unknown): item is AdapterObject => isNamedObject(item)

export const trackPods = (emit: Emit): TrackedObjects<V1Pod> =>
  track<V1Pod>(
    (oldPod, newPod) =>
      oldPod === undefined ? DiscoveryEvent.PodAdded({ pod: newPod }) : DiscoveryEvent.PodUpdated({ oldPod, newPod }),
    // A pod last seen malformed was never stored under that object: delete by key.
    (previous, _pod, key) =>
      previous !== undefined && isValidPod(previous)
        ? DiscoveryEvent.PodDeleted({ pod: previous })
        : DiscoveryEvent.PodDeletedByKey({ key }),
    emit
  )

/** ModelAdapters: added, updated (old, new), deleted. */
export const trackAdapters = (emit: Emit): TrackedObjects<AdapterObject> =>
  track<AdapterObject>(
    (oldAdapter, newAdapter) =>
      oldAdapter === undefined
        ? DiscoveryEvent.AdapterAdded({ adapter: newAdapter })
        : DiscoveryEvent.AdapterUpdated({ oldAdapter, newAdapter }),
    (previous, adapter) =>
      DiscoveryEvent.AdapterDeleted({
        adapter: previous !== undefined && isValidModelAdapter(previous) ? previous : adapter
      }),
    emit
  )
