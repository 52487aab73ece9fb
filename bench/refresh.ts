/**
 * The refresh at scale: N simulated engines (two models each, about 42 KB a
 * page) in a child process, N ready pods scraped every 50 ms. For N = 50, 200
 * and 500: the cycle duration p50/p99 and the CPU this process used, with
 * every catalogue metric refreshed, with the four metrics a router typically
 * subscribes to, and, as the baseline, the same pages fetched by the same HTTP
 * client on the same schedule with no parsing and no store. The engines finish
 * requests once a second each, so most scrapes find most families as before;
 * one run serves the real vLLM V1 page (about 46 KB, one model) with moving
 * values instead of the simulator's; the last run is the worst case, engines
 * whose every request histogram changes between two scrapes. The engines' own CPU is shown too: on a small
 * machine they compete with the cache for it.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createInterface } from "node:readline"
import { Clock, Effect, Layer, type Scope } from "effect"
import { HttpClient } from "effect/http"
import { initForTest, withMetricRefresh } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, MetricCache } from "../src/index.ts"
import { MetricRefresh } from "../src/metrics/MetricRefresh.ts"
import { refreshHttpClient } from "../src/metrics/MetricRefreshLayers.ts"
import { defaultScrapeOptions } from "../src/metrics/MetricRefreshConfig.ts"
import { METRIC_PORT_LABEL, MODEL_LABEL } from "../src/store/Pod.ts"
import { repeatCycles } from "../src/metrics/internal/RefreshCycles.ts"
import { DurationWindow, percentileOf } from "../src/metrics/RefreshStatistics.ts"
import { printComparison, printFigure } from "./report.ts"

const FLEET_SIZES = [50, 200, 500]
const WARMUP_MS = 1500
const MEASURE_MS = 4000
const ROUTER_METRICS = [
  "num_requests_running",
  "num_requests_waiting",
  "gpu_cache_usage_perc",
  "time_to_first_token_seconds"
]

interface Figures {
  readonly p50: number
  readonly p99: number
  /** CPU this process used. */
  readonly cores: number
  /** CPU the engines' process used meanwhile, on the same machine. */
  readonly engineCores: number
  readonly cycles: number
  readonly failedScrapes: number
}

interface Engines {
  readonly ports: ReadonlyArray<number>
  readonly pid: number
}

/** Linux reports process times in ticks of 1/100 s. */
const CLOCK_TICKS = 100

/** CPU seconds a process used so far, from /proc (0 where there is none). */
const cpuSecondsOf = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return 0
  }
}

/**
 * The child process's engines, for as long as the scope: simulators, busy ones
 * changing every histogram before every scrape, or servers of the real vLLM V1 page.
 */
const engines = (
  count: number,
  mode: "quiet" | "busy" | "real" = "quiet"
): Effect.Effect<Engines, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      const script = new URL("./refreshEngines.ts", import.meta.url).pathname
      const child = spawn(process.execPath, [script, String(count), ...(mode === "quiet" ? [] : [mode])], {
        stdio: ["pipe", "pipe", "inherit"]
      })
      return new Promise<{ child: typeof child; ports: ReadonlyArray<number> }>((resolve) => {
        createInterface({ input: child.stdout }).once("line", (line) => resolve({ child, ports: JSON.parse(line) }))
      })
    }),
    ({ child }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            child.once("exit", () => resolve())
            child.stdin.end()
          })
      )
  ).pipe(Effect.map(({ child, ports }) => ({ ports, pid: child.pid ?? 0 })))

const podsOf = (ports: ReadonlyArray<number>): ReadonlyArray<V1Pod> =>
  ports.map((port, i) => ({
    metadata: {
      name: `engine-${i}`,
      namespace: "default",
      uid: `uid-${i}`,
      labels: { [MODEL_LABEL]: "llama-3-8b", [METRIC_PORT_LABEL]: String(port) }
    },
    status: { podIP: "127.0.0.1", conditions: [{ type: "Ready", status: "True" }] }
  }))

/** Runs `measured` after a warm-up; returns the CPU this process and the engines used meanwhile, in cores. */
const cpuOver = <A, R>(engines: Engines, measured: Effect.Effect<A, never, R>) =>
  Effect.gen(function* () {
    yield* Effect.sleep(WARMUP_MS)
    const cpu = process.cpuUsage()
    const engineCpu = cpuSecondsOf(engines.pid)
    const started = performance.now()
    const result = yield* measured
    const used = process.cpuUsage(cpu)
    const seconds = (performance.now() - started) / 1000
    return {
      result,
      cores: (used.user + used.system) / 1e6 / seconds,
      engineCores: (cpuSecondsOf(engines.pid) - engineCpu) / seconds
    }
  })

const refresh = (engines: Engines, subscribed: ReadonlyArray<string> | undefined) =>
  Effect.gen(function* () {
    const writer = yield* CacheWriter
    yield* writer.applyAll(podsOf(engines.ports).map((pod) => DiscoveryEvent.PodAdded({ pod })))
    if (subscribed !== undefined)
      yield* MetricCache.use((metrics) => metrics.addSubscriber({ subscribedMetrics: subscribed }))
    const statistics = MetricRefresh.use((refresh) => refresh.statistics)
    const { cores, engineCores, result } = yield* cpuOver(
      engines,
      Effect.gen(function* () {
        const before = (yield* statistics).engine
        yield* Effect.sleep(MEASURE_MS)
        return { before, after: (yield* statistics).engine }
      })
    )
    const { after, before } = result
    const cycles = after.cycles - before.cycles
    const durations = after.recentCycleMs.slice(-cycles)
    const failed = (outcomes: typeof after.outcomes) =>
      outcomes.timeout + outcomes.transport + outcomes.status + outcomes.too_large + outcomes.malformed
    return {
      p50: percentileOf(durations, 50),
      p99: percentileOf(durations, 99),
      cores,
      engineCores,
      cycles,
      failedScrapes: failed(after.outcomes) - failed(before.outcomes)
    } satisfies Figures
  }).pipe(Effect.provide(withMetricRefresh(initForTest, { scrape: defaultScrapeOptions, promql: undefined })))

/** The baseline: the same pages, client and schedule, bodies read as text and dropped. */
const bareFetch = (engines: Engines) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const urls = engines.ports.map((port) => `http://127.0.0.1:${port}/metrics`)
    const durations = new DurationWindow()
    let cycles = 0
    let failedScrapes = 0
    const cycle = Clock.clockWith((clock) => {
      const started = clock.currentTimeMillisUnsafe()
      return Effect.forEach(
        urls,
        (url) =>
          client.get(url).pipe(
            Effect.flatMap((response) => response.text),
            Effect.timeout(defaultScrapeOptions.timeoutMs),
            Effect.catchCause(() => Effect.sync(() => failedScrapes++))
          ),
        { concurrency: defaultScrapeOptions.concurrency, discard: true }
      ).pipe(
        Effect.ensuring(
          Effect.sync(() => {
            cycles++
            durations.record(clock.currentTimeMillisUnsafe() - started)
          })
        )
      )
    })
    yield* Effect.forkScoped(repeatCycles(cycle, defaultScrapeOptions.intervalMs))
    const { cores, engineCores, result } = yield* cpuOver(
      engines,
      Effect.gen(function* () {
        const before = { cycles, failedScrapes }
        yield* Effect.sleep(MEASURE_MS)
        return before
      })
    )
    const measured = cycles - result.cycles
    const recent = durations.toArray().slice(-measured)
    return {
      p50: percentileOf(recent, 50),
      p99: percentileOf(recent, 99),
      cores,
      engineCores,
      cycles: measured,
      failedScrapes: failedScrapes - result.failedScrapes
    } satisfies Figures
  }).pipe(Effect.scoped, Effect.provide(refreshHttpClient))

const describe = (figures: Figures): string =>
  `cycle p50 ${figures.p50.toFixed(1)} ms, p99 ${figures.p99.toFixed(1)} ms, CPU ${figures.cores.toFixed(2)} cores ` +
  `(engines ${figures.engineCores.toFixed(2)} cores; ${figures.cycles} cycles, ${figures.failedScrapes} failed scrapes)`

const atScale = (count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fleet = yield* engines(count)
      const all = yield* refresh(fleet, undefined)
      console.log(`refresh N=${count}, every catalogue metric: ${describe(all)}`)
      const router = yield* refresh(fleet, ROUTER_METRICS)
      console.log(`refresh N=${count}, ${ROUTER_METRICS.length} subscribed metrics: ${describe(router)}`)
      const bare = yield* bareFetch(fleet)
      console.log(`refresh N=${count}, baseline bare fetch (no parse, no store): ${describe(bare)}`)
      const real = yield* Effect.scoped(Effect.flatMap(engines(count, "real"), (fleet) => refresh(fleet, undefined)))
      console.log(
        `refresh N=${count}, every catalogue metric, engines serving the real vLLM V1 page: ${describe(real)}`
      )
      const busy = yield* Effect.scoped(Effect.flatMap(engines(count, "busy"), (fleet) => refresh(fleet, undefined)))
      console.log(
        `refresh N=${count}, every catalogue metric, busy engines (every histogram changes between scrapes): ` +
          describe(busy)
      )
      printComparison(
        `refresh N=${count} CPU`,
        { label: "every metric", value: all.cores },
        { label: "bare fetch", value: bare.cores },
        "cores"
      )
      return all
    })
  )

export const run = (): Promise<void> =>
  Effect.runPromise(
    Effect.gen(function* () {
      for (const count of FLEET_SIZES) {
        const all = yield* atScale(count)
        if (count === 200) {
          printFigure("refresh N=200 cycle p99, every catalogue metric", all.p99, "ms", "< 50 ms")
          printFigure("refresh N=200 CPU, every catalogue metric", all.cores, "cores", "< 1 core")
        }
      }
    }).pipe(Effect.provide(Layer.empty))
  )
