/**
 * The settings of the metric refresh (engine scrapes and PromQL), read from the
 * environment with `Config`. A bad value fails with the variable and the value.
 */
import { Config, Effect, Option, Redacted, Schema, SchemaIssue } from "effect"
import { envPositiveInt, envValue } from "../EnvConfig.ts"
import type { PrometheusApiOptions } from "./PrometheusApi.ts"

/** How the engines are scraped. */
export interface ScrapeOptions {
  /** Time from the start of one scrape of a pod to the start of its next, while its scrapes succeed. */
  readonly intervalMs: number
  /** Time one scrape may take, answer and body included. */
  readonly timeoutMs: number
  /** A page larger than this is not read past the limit, and counts as a failed scrape. */
  readonly maxPageBytes: number
  /** Time since a pod's last good scrape after which its values are stale (still read). */
  readonly staleAfterMs: number
  /** Time since a pod's last good scrape after which its values are removed from reads. */
  readonly dropAfterMs: number
  /** The longest wait before a failing pod is scraped again (its waits grow from the interval). */
  readonly backoffCapMs: number
  /** Scrapes in flight at once, over every pod. */
  readonly concurrency: number
}

/** How the PromQL metrics are queried. */
export interface PromQLOptions {
  readonly prometheus: PrometheusApiOptions
  readonly intervalMs: number
  /** Time one query may take. */
  readonly timeoutMs: number
  /** Queries in flight at once. */
  readonly concurrency: number
}

export interface MetricRefreshOptions {
  readonly scrape: ScrapeOptions
  /** Undefined when no Prometheus is configured: no PromQL metrics then. */
  readonly promql: PromQLOptions | undefined
}

export const defaultScrapeOptions: ScrapeOptions = {
  intervalMs: 50,
  timeoutMs: 1000,
  maxPageBytes: 8 * 1024 * 1024,
  staleAfterMs: 500,
  dropAfterMs: 10_000,
  backoffCapMs: 5_000,
  concurrency: 64
}

export const defaultPromQLIntervalMs = 5000
export const defaultPromQLTimeoutMs = 2000
export const defaultPromQLConcurrency = 8

const HttpUrlString = Schema.String.check(
  Schema.makeFilter(
    (value: string) =>
      value === "" ||
      (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)) ||
      `expected an http(s) URL, got ${JSON.stringify(value)}`
  )
)

/** An optional string variable; unset and empty are the same. */
const optionalString = (name: string): Config.Config<string | undefined> =>
  Config.String(name).pipe(
    Config.option,
    Config.map((value) => Option.getOrUndefined(Option.filter(value, (s) => s !== "")))
  )

/** A positive integer variable, or undefined when unset. */
const optionalPositiveInt = (name: string): Config.Config<number | undefined> =>
  envValue<number | undefined>(name, undefined, "expected a positive integer", (value) => {
    const number = /^\d+$/.test(value) ? Number(value) : Number.NaN
    return Number.isSafeInteger(number) && number > 0 ? number : undefined
  })

const mustNotBeBelow = (message: string): Config.ConfigError =>
  new Config.ConfigError(new Schema.SchemaError(new SchemaIssue.InvalidValue({ message })))

/**
 * A horizon in milliseconds: its `_MS` variable, else its older `_CYCLES`
 * variable as a multiple of the interval, else the default.
 */
const horizon = (ms: number | undefined, cycles: number | undefined, intervalMs: number, fallback: number): number =>
  ms ?? (cycles === undefined ? fallback : cycles * intervalMs)

const scrapeOptionsConfig: Config.Config<ScrapeOptions> = Config.all({
  intervalMs: envPositiveInt("AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS", defaultScrapeOptions.intervalMs),
  timeoutMs: envPositiveInt("AIBRIX_POD_METRIC_SCRAPE_TIMEOUT_MS", defaultScrapeOptions.timeoutMs),
  maxPageBytes: envPositiveInt("AIBRIX_POD_METRIC_MAX_PAGE_BYTES", defaultScrapeOptions.maxPageBytes),
  staleAfterMs: optionalPositiveInt("AIBRIX_POD_METRIC_STALE_AFTER_MS"),
  dropAfterMs: optionalPositiveInt("AIBRIX_POD_METRIC_DROP_AFTER_MS"),
  staleAfterCycles: optionalPositiveInt("AIBRIX_POD_METRIC_STALE_AFTER_CYCLES"),
  dropAfterCycles: optionalPositiveInt("AIBRIX_POD_METRIC_DROP_AFTER_CYCLES"),
  backoffCapMs: envPositiveInt("AIBRIX_POD_METRIC_BACKOFF_CAP_MS", defaultScrapeOptions.backoffCapMs),
  concurrency: envPositiveInt("AIBRIX_POD_METRIC_SCRAPE_CONCURRENCY", defaultScrapeOptions.concurrency)
}).pipe(
  Config.mapEffect(({ dropAfterCycles, dropAfterMs, staleAfterCycles, staleAfterMs, ...rest }) => {
    const options: ScrapeOptions = {
      ...rest,
      staleAfterMs: horizon(staleAfterMs, staleAfterCycles, rest.intervalMs, defaultScrapeOptions.staleAfterMs),
      dropAfterMs: horizon(dropAfterMs, dropAfterCycles, rest.intervalMs, defaultScrapeOptions.dropAfterMs)
    }
    return options.dropAfterMs >= options.staleAfterMs
      ? Effect.succeed(options)
      : Effect.fail(
          mustNotBeBelow(
            `the drop horizon (${options.dropAfterMs} ms, AIBRIX_POD_METRIC_DROP_AFTER_MS) must not be below ` +
              `the stale horizon (${options.staleAfterMs} ms, AIBRIX_POD_METRIC_STALE_AFTER_MS)`
          )
        )
  })
)

const promQLOptionsConfig: Config.Config<PromQLOptions | undefined> = Config.all({
  endpoint: Config.schema(HttpUrlString, "PROMETHEUS_ENDPOINT").pipe(Config.option),
  username: optionalString("PROMETHEUS_BASIC_AUTH_USERNAME"),
  password: Config.Redacted("PROMETHEUS_BASIC_AUTH_PASSWORD").pipe(Config.option),
  intervalMs: envPositiveInt("AIBRIX_PROMQL_REFRESH_INTERVAL_MS", defaultPromQLIntervalMs),
  timeoutMs: envPositiveInt("AIBRIX_PROMQL_TIMEOUT_MS", defaultPromQLTimeoutMs),
  concurrency: envPositiveInt("AIBRIX_PROMQL_CONCURRENCY", defaultPromQLConcurrency)
}).pipe(
  Config.map(({ concurrency, endpoint, intervalMs, password, timeoutMs, username }) => {
    if (Option.isNone(endpoint) || endpoint.value === "") return undefined
    const secret = Option.filter(password, (value) => Redacted.value(value) !== "")
    return {
      prometheus: { endpoint: endpoint.value, username, password: Option.getOrUndefined(secret) },
      intervalMs,
      timeoutMs,
      concurrency
    }
  })
)

/** Every setting of the refresh, from the environment. */
export const metricRefreshConfig: Config.Config<MetricRefreshOptions> = Config.all({
  scrape: scrapeOptionsConfig,
  promql: promQLOptionsConfig
})
