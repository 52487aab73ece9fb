/**
 * A simulated engine (vLLM unless told another): a loopback HTTP server that
 * serves the page of a `SimulatedMetrics` in the engine's layout at the engine's
 * path (`/metrics`, `/prometheus/metrics` for trtllm-serve), and which can be
 * told to change its values, to answer late or never, to fail with a status,
 * or to serve a broken page.
 *
 * Usable from Effect code as a scoped resource (`EngineSimulator.scoped`) and
 * from plain code with `EngineSimulator.start` and `stop`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Schema, type Scope } from "effect"
import { type Engine, engineProfiles } from "../metrics/MetricCatalogue.ts"
import { SimulatedMetrics } from "./SimulatedMetrics.ts"

export {
  DEFAULT_REQUEST_SHAPE,
  ENGINE_COUNTERS,
  ENGINE_GAUGES,
  ENGINE_HISTOGRAMS,
  type EngineCounter,
  type EngineGauge,
  type EngineHistogram,
  SimulatedMetrics,
  type FinishedReason,
  type LoraInfo,
  renderEnginePage,
  type RequestShape
} from "./SimulatedMetrics.ts"

/** How the engine answers a scrape of `/metrics`. */
export type EngineBehavior =
  | { readonly _tag: "Serve" }
  /** Answers after `millis`; `Infinity` never answers (until the simulator stops). */
  | { readonly _tag: "Delay"; readonly millis: number }
  | { readonly _tag: "Fail"; readonly status: number }
  /**
   * Serves a broken page: `garbage` puts a malformed line in its middle
   * (a vLLM family's, so that a vLLM reader trips on it), `truncate` cuts it
   * inside a label set, `drop` declares the whole page's length, sends half
   * and drops the connection.
   */
  | { readonly _tag: "Corrupt"; readonly how: "garbage" | "truncate" | "drop" }

export const EngineBehavior = {
  serve: { _tag: "Serve" } as EngineBehavior,
  delay: (millis: number): EngineBehavior => ({ _tag: "Delay", millis }),
  hang: { _tag: "Delay", millis: Infinity } as EngineBehavior,
  fail: (status = 500): EngineBehavior => ({ _tag: "Fail", status }),
  corrupt: (how: "garbage" | "truncate" | "drop" = "garbage"): EngineBehavior => ({ _tag: "Corrupt", how })
} as const

export interface EngineSimulatorOptions {
  /** The models the engine serves (label `model_name`); one model, `llama-3-8b`, unless given. */
  readonly models?: ReadonlyArray<string>
  /** 0 (the default) picks a free port. */
  readonly port?: number
  /** Whose page the engine serves, and at which path; vLLM's unless given. */
  readonly engine?: Engine
}

export class EngineSimulatorError extends Schema.TaggedError<EngineSimulatorError>()("EngineSimulatorError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `engine simulator: ${this.reason}`
  }
}

const HOST = "127.0.0.1"
const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/** The line that `corrupt("garbage")` puts in the middle of the page: its label value never ends. */
export const GARBAGE_LINE = 'vllm:num_requests_running{model_name="broken 1'

const corrupted = (page: string, how: "garbage" | "truncate"): string => {
  const middle = page.indexOf("\n", page.length >> 1) + 1
  if (how === "garbage") return `${page.slice(0, middle)}${GARBAGE_LINE}\n${page.slice(middle)}`
  return page.slice(0, page.indexOf("{", middle) + 1)
}

export class EngineSimulator {
  readonly metrics: SimulatedMetrics
  readonly host = HOST
  readonly port: number
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  /** The path of its page: `/metrics`, or `/prometheus/metrics` for trtllm-serve. */
  readonly metricsPath: string
  /** `http://127.0.0.1:<port>` and the path of its page. */
  readonly metricsUrl: string
  readonly #server: Server
  readonly #waiting = new Set<ReturnType<typeof setTimeout>>()
  #behavior: EngineBehavior = EngineBehavior.serve
  #scrapes = 0
  #connections = 0
  #openConnections = 0
  /** The page's two parts as last encoded: each is encoded again only once it changed. */
  #processBytes: { readonly text: string; readonly bytes: Buffer } | undefined = undefined
  #engineBytes: { readonly text: string; readonly bytes: Buffer } | undefined = undefined

  private constructor(server: Server, metrics: SimulatedMetrics) {
    this.#server = server
    this.metrics = metrics
    this.port = (server.address() as AddressInfo).port
    this.url = `http://${HOST}:${this.port}`
    this.metricsPath = engineProfiles[metrics.engine].metricsPath
    this.metricsUrl = `${this.url}${this.metricsPath}`
    server.on("connection", (socket) => {
      this.#connections++
      this.#openConnections++
      socket.once("close", () => this.#openConnections--)
    })
  }

  /** Starts a simulator on 127.0.0.1; resolves once it listens. */
  static start(options?: EngineSimulatorOptions): Promise<EngineSimulator> {
    const metrics = new SimulatedMetrics(options?.models ?? ["llama-3-8b"], undefined, options?.engine)
    return new Promise((resolve, reject) => {
      let simulator: EngineSimulator | undefined
      const server = createServer((request, response) => simulator?.handle(request, response))
      server.keepAliveTimeout = 60_000
      server.once("error", reject)
      server.listen(options?.port ?? 0, HOST, () => {
        server.off("error", reject)
        simulator = new EngineSimulator(server, metrics)
        resolve(simulator)
      })
    })
  }

  /** A simulator that lives as long as the scope. */
  static scoped(options?: EngineSimulatorOptions): Effect.Effect<EngineSimulator, EngineSimulatorError, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.tryPromise({
        try: () => EngineSimulator.start(options),
        catch: (cause) => new EngineSimulatorError({ reason: `cannot listen: ${String(cause)}` })
      }),
      (simulator) => Effect.promise(() => simulator.stop())
    )
  }

  /** Scrapes of `/metrics` received so far, answered or not. */
  get scrapes(): number {
    return this.#scrapes
  }

  /** TCP connections accepted so far: a scraper that keeps its connection alive opens one. */
  get connections(): number {
    return this.#connections
  }

  /** TCP connections open now: a scraper that let go of the engine has none. */
  get openConnections(): number {
    return this.#openConnections
  }

  get behavior(): EngineBehavior {
    return this.#behavior
  }

  /** How the following scrapes are answered; scrapes already waiting keep their delay. */
  behave(behavior: EngineBehavior): void {
    this.#behavior = behavior
  }

  /** The page as a scrape would get it now (while serving normally). */
  page(): string {
    return this.metrics.page()
  }

  /** Stops listening, drops open connections and scrapes still waiting. */
  stop(): Promise<void> {
    for (const timer of this.#waiting) clearTimeout(timer)
    this.#waiting.clear()
    return new Promise((resolve) => {
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url?.split("?")[0]
    if (path !== this.metricsPath) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n")
      return
    }
    this.#scrapes++
    const behavior = this.#behavior
    switch (behavior._tag) {
      case "Serve":
        this.send(response, ...this.body())
        return
      case "Fail":
        response.writeHead(behavior.status, { "content-type": "text/plain" }).end("engine error\n")
        return
      case "Corrupt":
        if (behavior.how === "drop") this.drop(response)
        else this.send(response, Buffer.from(corrupted(this.metrics.page(), behavior.how)))
        return
      case "Delay": {
        if (behavior.millis === Infinity) return
        const timer = setTimeout(() => {
          this.#waiting.delete(timer)
          this.send(response, ...this.body())
        }, behavior.millis)
        this.#waiting.add(timer)
      }
    }
  }

  /** The page's bytes in its two parts, each encoded once per change of its text. */
  private body(): [Buffer, Buffer] {
    const { engine, process } = this.metrics.pageParts()
    if (this.#processBytes?.text !== process) this.#processBytes = { text: process, bytes: Buffer.from(process) }
    if (this.#engineBytes?.text !== engine) this.#engineBytes = { text: engine, bytes: Buffer.from(engine) }
    return [this.#processBytes.bytes, this.#engineBytes.bytes]
  }

  /** Declares the page's length, sends half of it and drops the connection. */
  private drop(response: ServerResponse): void {
    const page = Buffer.from(this.metrics.page())
    response.writeHead(200, { "content-type": CONTENT_TYPE, "content-length": page.length })
    response.write(page.subarray(0, page.length >> 1), () => setImmediate(() => response.socket?.destroy()))
  }

  private send(response: ServerResponse, ...parts: ReadonlyArray<Buffer>): void {
    if (response.destroyed) return
    const length = parts.reduce((total, part) => total + part.length, 0)
    response.writeHead(200, { "content-type": CONTENT_TYPE, "content-length": length })
    for (const part of parts.slice(0, -1)) response.write(part)
    response.end(parts.at(-1))
  }
}
