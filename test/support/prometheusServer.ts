/**
 * A real Prometheus server for integration tests: started on a free loopback
 * port with a generated configuration and a storage directory in a temporary
 * directory, both removed when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Data, Effect, Schedule, type Scope } from "effect"

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? "prometheus"

/** One scrape target, and the `instance` label its series get. */
export interface ScrapeTarget {
  /** `host:port` where Prometheus scrapes. */
  readonly address: string
  /** The `instance` label to give its series instead of the address. */
  readonly instance?: string
}

export interface PrometheusServerOptions {
  readonly job: string
  readonly targets: ReadonlyArray<ScrapeTarget>
  readonly scrapeIntervalSeconds?: number
}

export interface PrometheusServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string
  /** Everything the server wrote on stderr so far, for failure messages. */
  readonly log: () => string
}

export class PrometheusStartError extends Data.TaggedError("PrometheusStartError")<{
  readonly reason: string
}> {}

/** A port free right now on 127.0.0.1. */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const quote = (value: string): string => JSON.stringify(value)

const escapeRegex = (value: string): string => value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * The configuration: one job scraping the targets; a target with an
 * `instance` gets it by relabelling (Prometheus would name it by its address).
 */
export const prometheusConfig = (options: PrometheusServerOptions): string => {
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`
  const relabel = options.targets
    .filter((target) => target.instance !== undefined)
    .map((target) =>
      [
        `      - source_labels: [__address__]`,
        `        regex: ${quote(escapeRegex(target.address))}`,
        `        target_label: instance`,
        `        replacement: ${quote(target.instance!)}`
      ].join("\n")
    )
  return [
    `global:`,
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    `scrape_configs:`,
    `  - job_name: ${quote(options.job)}`,
    `    scrape_interval: ${interval}`,
    `    scrape_timeout: ${interval}`,
    `    static_configs:`,
    `      - targets: [${options.targets.map((target) => quote(target.address)).join(", ")}]`,
    ...(relabel.length > 0 ? [`    relabel_configs:`, ...relabel] : []),
    ``
  ].join("\n")
}

const stop = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
    child.once("exit", () => {
      clearTimeout(kill)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

const isReady = (url: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false
    )
  )

/** Starts Prometheus and waits until it is ready; stops it and removes its files with the scope. */
export const startPrometheus = (
  options: PrometheusServerOptions
): Effect.Effect<PrometheusServer, PrometheusStartError, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "aibrix-prometheus-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const configFile = join(dir, "prometheus.yml")
    yield* Effect.promise(() => writeFile(configFile, prometheusConfig(options)))
    const port = yield* freePort
    const url = `http://127.0.0.1:${port}`
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(
          PROMETHEUS_BINARY,
          [
            `--config.file=${configFile}`,
            `--storage.tsdb.path=${join(dir, "data")}`,
            `--web.listen-address=127.0.0.1:${port}`,
            "--log.level=warn"
          ],
          { stdio: ["ignore", "ignore", "pipe"] }
        )
        child.stderr?.setEncoding("utf8")
        child.stderr?.on("data", (chunk: string) => {
          stderr += chunk
        })
        child.on("error", (error) => {
          stderr += `\n${error.message}`
        })
        return child
      }),
      stop
    )
    const server: PrometheusServer = { url, log: () => stderr }
    yield* isReady(url).pipe(
      Effect.flatMap((ready) =>
        ready
          ? Effect.void
          : child.exitCode !== null
            ? Effect.fail(new PrometheusStartError({ reason: `prometheus exited: ${stderr}` }))
            : Effect.fail(new PrometheusStartError({ reason: "not ready yet" }))
      ),
      Effect.retry({
        schedule: Schedule.spaced("100 millis"),
        while: (error) => error.reason === "not ready yet",
        times: 300
      }),
      Effect.mapError((error) => new PrometheusStartError({ reason: `${error.reason}\n${stderr}` }))
    )
    return server
  })
