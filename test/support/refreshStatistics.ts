/** The running refresh's statistics, and a wait for them on the real clock. */
import { assert } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import type { OutcomeCounts, RefreshStatistics } from "../../src/metrics/RefreshStatistics.ts"

export const statistics = MetricRefresh.use((refresh) => refresh.statistics)

/** Polls the statistics (every 10 ms, for at most 20 s) until the check holds. */
export const until = (check: (statistics: RefreshStatistics) => boolean) =>
  statistics.pipe(
    Effect.filterOrFail(check, () => "not yet" as const),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 2000 }),
    Effect.orElseSucceed(() => assert.fail("the refresh never got there"))
  )

/** Scrapes ended, whatever their outcome. */
export const scrapesOf = (outcomes: Readonly<OutcomeCounts>): number =>
  Object.values(outcomes).reduce((sum, n) => sum + n, 0)

/**
 * Waits until each of these pods (every pod the refresh knows, by default,
 * once it knows one) has ended `n` more scrapes; with n = 2, a change made
 * before this call is seen by then (the second scrape starts after it).
 */
export const scrapesFromNow = (n: number, keys?: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const start = new Map((yield* statistics).engine.pods.map((pod) => [pod.key, scrapesOf(pod.outcomes)]))
    yield* until(({ engine }) => {
      const watched = keys ?? engine.pods.map((pod) => pod.key)
      return (
        watched.length > 0 &&
        watched.every((key) => {
          const pod = engine.pods.find((p) => p.key === key)
          return pod !== undefined && scrapesOf(pod.outcomes) >= (start.get(key) ?? 0) + n
        })
      )
    })
  })
