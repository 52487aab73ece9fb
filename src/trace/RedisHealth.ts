/**
 * Whether Redis answers, as the log tells it: one line when it stops answering
 * and one when it answers again, however long it is away and whoever noticed
 * (the connection closing, a command failing, a caller's own deadline passing).
 * The trace flush and the replica sync share one connection and so one health:
 * an outage is two lines in all.
 */
import { Effect } from "effect"

/** A change the log is told of. */
export type RedisHealthChange =
  | { readonly _tag: "Unavailable"; readonly reason: string }
  | { readonly _tag: "Available"; readonly afterMs: number }
  | { readonly _tag: "PasswordNotNeeded" }

export class RedisHealth {
  readonly #report: (change: RedisHealthChange) => void
  #downSince: number | undefined
  #passwordNoticed = false

  /** `report` is called synchronously on each change; it must not block. */
  constructor(report: (change: RedisHealthChange) => void) {
    this.#report = report
  }

  /** Whether Redis is known not to answer now. */
  get unavailable(): boolean {
    return this.#downSince !== undefined
  }

  /** Redis did not answer: the first such news since it last answered is reported. */
  down(reason: string): void {
    if (this.#downSince !== undefined) return
    this.#downSince = performance.now()
    this.#report({ _tag: "Unavailable", reason })
  }

  /** Redis answered: reported if it was known not to. */
  up(): void {
    if (this.#downSince === undefined) return
    const afterMs = performance.now() - this.#downSince
    this.#downSince = undefined
    this.#report({ _tag: "Available", afterMs })
  }

  /** Redis refused a password it does not need; reported once. */
  passwordNotNeeded(): void {
    if (this.#passwordNoticed) return
    this.#passwordNoticed = true
    this.#report({ _tag: "PasswordNotNeeded" })
  }
}

/** The log line of a change, naming where Redis is. */
export const logHealthChange = (where: { readonly host: string; readonly port: number }, change: RedisHealthChange) => {
  switch (change._tag) {
    case "Unavailable":
      return Effect.logWarning("Redis unavailable").pipe(Effect.annotateLogs({ ...where, reason: change.reason }))
    case "Available":
      return Effect.logInfo("Redis available again").pipe(
        Effect.annotateLogs({ ...where, down_ms: Math.round(change.afterMs) })
      )
    case "PasswordNotNeeded":
      return Effect.logWarning("Redis needs no password: REDIS_PASSWORD is not used").pipe(Effect.annotateLogs(where))
  }
}
