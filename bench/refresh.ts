/**
 * The refresh at scale: N simulated engines (two models each, about 42 KB a
 * page) in a child process, N ready pods scraped every 50 ms. For N = 50, 200
 * and 500: the scrapes per pod and second reached (due: 20), the age of the
 * values a reader finds (p50/p99, sampled over pods and time), and the CPU
 * this process used, in all and per page, with
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
import { Effect, Layer, Schedule, type Scope } from "effect"
import { HttpClient } from "effect/http"
import { initForTest, withMetricRefresh } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, MetricCache } from "../src/index.ts"
import { MetricRefresh } from "../src/metrics/MetricRefresh.ts"
import { refreshHttpClient } from "../src/metrics/MetricRefreshLayers.ts"
import { defaultScrapeOptions } from "../src/metrics/MetricRefreshConfig.ts"
import { METRIC_PORT_LABEL, MODEL_LABEL } from "../src/store/Pod.ts"
import { type OutcomeCounts, percentileOf } from "../src/metrics/RefreshStatistics.ts"
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
  /** Scrapes ended per second, whatever their outcome. */
  readonly pagesPerSecond: number
  /** Scrapes due per second: every pod once an interval. */
  readonly duePerSecond: number
  /** CPU this process used. */
  readonly cores: number
  /** CPU the engines' process used meanwhile, on the same machine. */
  readonly engineCores: number
  /** How old the values a reader found were, sampled over pods and time; undefined for the baseline (no store). */
  readonly age: { readonly p50: number; readonly p99: number } | undefined
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

const DUE_PER_SECOND = 1000 / defaultScrapeOptions.intervalMs

/** How often the values' ages are sampled: not a divisor of the interval, so the samples fall all over it. */
const AGE_SAMPLE_MS = 37

const scrapesOf = (outcomes: OutcomeCounts): number => Object.values(outcomes).reduce((sum, n) => sum + n, 0)
const failedOf = (outcomes: OutcomeCounts): number => scrapesOf(outcomes) - outcomes.ok

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
        const ages: Array<number> = []
        const sampling = Effect.gen(function* () {
          while (true) {
            yield* Effect.sleep(AGE_SAMPLE_MS)
            for (const pod of (yield* statistics).engine.pods) ages.push(pod.ageMs ?? Infinity)
          }
        })
        yield* Effect.raceFirst(sampling, Effect.sleep(MEASURE_MS))
        return { before, after: (yield* statistics).engine, ages }
      })
    )
    const { after, ages, before } = result
    return {
      pagesPerSecond:
        (scrapesOf(after.outcomes) - scrapesOf(before.outcomes)) / (MEASURE_MS / 1000) / engines.ports.length,
      duePerSecond: DUE_PER_SECOND,
      cores,
      engineCores,
      age: { p50: percentileOf(ages, 50), p99: percentileOf(ages, 99) },
      failedScrapes: failedOf(after.outcomes) - failedOf(before.outcomes)
    } satisfies Figures
  }).pipe(Effect.provide(withMetricRefresh(initForTest, { scrape: defaultScrapeOptions, promql: undefined })))

/** The baseline: the same pages and client, each fetched once an interval by its own fiber, read as text and dropped. */
const bareFetch = (engines: Engines) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const urls = engines.ports.map((port) => `http://127.0.0.1:${port}/metrics`)
    let pages = 0
    let failedScrapes = 0
    const fetchOnce = (url: string) =>
      client.get(url).pipe(
        Effect.flatMap((response) => response.text),
        Effect.timeout(defaultScrapeOptions.timeoutMs),
        Effect.matchCause({ onFailure: () => void failedScrapes++, onSuccess: () => void pages++ })
      )
    for (const url of urls) {
      yield* Effect.forkScoped(Effect.repeat(fetchOnce(url), Schedule.fixed(defaultScrapeOptions.intervalMs)))
    }
    const { cores, engineCores, result } = yield* cpuOver(
      engines,
      Effect.gen(function* () {
        const before = { pages, failedScrapes }
        yield* Effect.sleep(MEASURE_MS)
        return before
      })
    )
    return {
      pagesPerSecond: (pages + failedScrapes - result.pages - result.failedScrapes) / (MEASURE_MS / 1000) / urls.length,
      duePerSecond: DUE_PER_SECOND,
      cores,
      engineCores,
      age: undefined,
      failedScrapes: failedScrapes - result.failedScrapes
    } satisfies Figures
  }).pipe(Effect.scoped, Effect.provide(refreshHttpClient))

/** CPU per page, in microseconds of this process. */
const cpuPerPage = (figures: Figures, pods: number): number => (figures.cores * 1e6) / (figures.pagesPerSecond * pods)

const describe = (figures: Figures, pods: number): string =>
  `${figures.pagesPerSecond.toFixed(1)} scrapes/s per pod (due ${figures.duePerSecond}), ` +
  (figures.age === undefined
    ? ""
    : `age p50 ${figures.age.p50.toFixed(0)} ms, p99 ${figures.age.p99.toFixed(0)} ms, `) +
  `CPU ${figures.cores.toFixed(2)} cores, ${cpuPerPage(figures, pods).toFixed(0)} µs per page ` +
  `(engines ${figures.engineCores.toFixed(2)} cores; ${figures.failedScrapes} failed scrapes)`

const atScale = (count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const fleet = yield* engines(count)
      const all = yield* refresh(fleet, undefined)
      console.log(`refresh N=${count}, every catalogue metric: ${describe(all, count)}`)
      const router = yield* refresh(fleet, ROUTER_METRICS)
      console.log(`refresh N=${count}, ${ROUTER_METRICS.length} subscribed metrics: ${describe(router, count)}`)
      const bare = yield* bareFetch(fleet)
      console.log(`refresh N=${count}, baseline bare fetch (no parse, no store): ${describe(bare, count)}`)
      const real = yield* Effect.scoped(Effect.flatMap(engines(count, "real"), (fleet) => refresh(fleet, undefined)))
      console.log(
        `refresh N=${count}, every catalogue metric, engines serving the real vLLM V1 page: ${describe(real, count)}`
      )
      const busy = yield* Effect.scoped(Effect.flatMap(engines(count, "busy"), (fleet) => refresh(fleet, undefined)))
      console.log(
        `refresh N=${count}, every catalogue metric, busy engines (every histogram changes between scrapes): ` +
          describe(busy, count)
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
          printFigure("refresh N=200 scrapes per pod, every catalogue metric", all.pagesPerSecond, "/s", ">= 17 /s")
          printFigure("refresh N=200 CPU, every catalogue metric", all.cores, "cores", "< 1 core")
        }
      }
    }).pipe(Effect.provide(Layer.empty))
  )
