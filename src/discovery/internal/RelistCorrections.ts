/**
 * What periodic relists corrected: the discovery events a relist's list
 * produced, by kind. Each one is a change the watch had not delivered.
 */
import type { DiscoveryEvent } from "../../store/DiscoveryEvent.ts"

/** Changes a relist found that the watch had missed. */
export interface Corrections {
  readonly added: number
  readonly updated: number
  readonly deleted: number
}

export const noCorrections: Corrections = { added: 0, updated: 0, deleted: 0 }

export const totalOf = (corrections: Corrections): number =>
  corrections.added + corrections.updated + corrections.deleted

export const difference = (after: Corrections, before: Corrections): Corrections => ({
  added: after.added - before.added,
  updated: after.updated - before.updated,
  deleted: after.deleted - before.deleted
})

/** Counts the events of one resource while a requested relist is being delivered, and those relists. */
export class CorrectionCounter {
  #added = 0
  #updated = 0
  #deleted = 0
  #relists = 0
  #counting = false

  /** A list is about to be delivered: count its events when it answers a relist. */
  listing(requested: boolean): void {
    this.#counting = requested
  }

  /** The list has been delivered. */
  listed(): void {
    if (this.#counting) this.#relists++
    this.#counting = false
  }

  /** Requested relists delivered in full. */
  get relists(): number {
    return this.#relists
  }

  count(event: DiscoveryEvent): void {
    if (!this.#counting) return
    switch (event._tag) {
      case "PodAdded":
      case "AdapterAdded":
        this.#added++
        return
      case "PodUpdated":
      case "AdapterUpdated":
        this.#updated++
        return
      case "PodDeleted":
      case "PodDeletedByKey":
      case "AdapterDeleted":
        this.#deleted++
    }
  }

  get corrections(): Corrections {
    return { added: this.#added, updated: this.#updated, deleted: this.#deleted }
  }
}
