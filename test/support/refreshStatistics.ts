/** The running refresh's statistics, and a wait for them on the real clock. */
import { assert } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import type { RefreshStatistics } from "../../src/metrics/RefreshStatistics.ts"

export const statistics = MetricRefresh.use((refresh) => refresh.statistics)

/** Polls the statistics (every 10 ms, for at most 20 s) until the check holds. */
export const until = (check: (statistics: RefreshStatistics) => boolean) =>
  statistics.pipe(
    Effect.filterOrFail(check, () => "not yet" as const),
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 2000 }),
    Effect.orElseSucceed(() => assert.fail("the refresh never got there"))
  )
