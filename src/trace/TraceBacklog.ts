/**
 * Closed trace windows not yet in Redis: each keeps the key of its own flush,
 * so a window written late still lands under its own `ts`. Bounded per model,
 * and by the keys' life: beyond either the oldest are dropped (and counted).
 */

/** A closed window as it is written: its key and its JSON. */
export interface TraceRecord {
  readonly model: string
  /** The flush it belongs to, in unix seconds. */
  readonly ts: number
  readonly key: string
  readonly value: string
  /** The requests the window counted (its `meta_total_reqs`). */
  readonly totalRequests: number
}

/** Windows kept per model: 60 flushes of 10 s, the keys' own 10-minute life. */
export const BACKLOG_LIMIT = 60

export class TraceBacklog {
  readonly limit: number
  // model -> its records, oldest first
  readonly #byModel = new Map<string, Array<TraceRecord>>()
  #size = 0
  #dropped = 0

  constructor(limit = BACKLOG_LIMIT) {
    this.limit = limit
  }

  /** Adds a record; returns how many old records of its model it pushed out. */
  add(record: TraceRecord): number {
    let records = this.#byModel.get(record.model)
    if (records === undefined) {
      records = []
      this.#byModel.set(record.model, records)
    }
    records.push(record)
    this.#size++
    let dropped = 0
    while (records.length > this.limit) {
      records.shift()
      dropped++
    }
    this.#size -= dropped
    this.#dropped += dropped
    return dropped
  }

  /**
   * Drops (and counts) the records of flushes at or before `ts`: past their
   * keys' life, so the windows of a model gone during a Redis outage do not
   * stay for as long as it lasts. Returns how many.
   */
  dropOlderThan(ts: number): number {
    let dropped = 0
    for (const [model, records] of this.#byModel) {
      let old = 0
      while (old < records.length && records[old]!.ts <= ts) old++
      if (old === 0) continue
      if (old === records.length) this.#byModel.delete(model)
      else records.splice(0, old)
      dropped += old
    }
    this.#size -= dropped
    this.#dropped += dropped
    return dropped
  }

  /** Every record, oldest flush first. */
  records(): ReadonlyArray<TraceRecord> {
    const all: Array<TraceRecord> = []
    for (const records of this.#byModel.values()) all.push(...records)
    return all.sort((a, b) => a.ts - b.ts)
  }

  /** Forgets records that were written. */
  remove(written: ReadonlyArray<TraceRecord>): void {
    const done = new Set(written)
    for (const [model, records] of this.#byModel) {
      const kept = records.filter((record) => !done.has(record))
      this.#size -= records.length - kept.length
      if (kept.length === 0) this.#byModel.delete(model)
      else this.#byModel.set(model, kept)
    }
  }

  get size(): number {
    return this.#size
  }

  /** Records pushed out by newer ones since the backlog was made. */
  get dropped(): number {
    return this.#dropped
  }
}
