/**
 * The pods of one model, as `listPodsByModel` returns them, with an index that
 * groups them by deployment (the `app.kubernetes.io/name` label).
 */
import type { V1Pod } from "@kubernetes/client-node"
import { deploymentOf } from "./Pod.ts"

export class PodList {
  readonly #pods: ReadonlyArray<V1Pod>
  #groups: Map<string, Array<V1Pod>> | undefined

  constructor(pods: ReadonlyArray<V1Pod>) {
    this.#pods = pods
  }

  get len(): number {
    return this.#pods.length
  }

  all(): ReadonlyArray<V1Pod> {
    return this.#pods
  }

  /** The deployment names, in order of first appearance ("" for unlabelled pods). */
  indexes(): ReadonlyArray<string> {
    return [...this.groups().keys()]
  }

  /** The pods of one deployment; empty when there is none of that name. */
  listByIndex(name: string): ReadonlyArray<V1Pod> {
    return this.groups().get(name) ?? []
  }

  // Built on first use and kept: the list never changes once made.
  private groups(): Map<string, Array<V1Pod>> {
    if (this.#groups === undefined) {
      const groups = new Map<string, Array<V1Pod>>()
      for (const pod of this.#pods) {
        const name = deploymentOf(pod)
        const group = groups.get(name)
        if (group === undefined) groups.set(name, [pod])
        else group.push(pod)
      }
      this.#groups = groups
    }
    return this.#groups
  }
}
