/**
 * The `aibrix-cache` command: serves the cache's HTTP API over a fleet from a
 * static file, a Kubernetes cluster, or the built-in demo. Each flag falls back
 * to an environment variable, read with `Config` (a bad value fails naming the
 * variable and the value), then to its default.
 */
import { Cause, type Config, Data, Duration, Effect, Option, Result, Runtime, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { envListenPort, envString, envValue } from "../EnvConfig.ts"
import { LOG_FORMATS, type LogFormat, loggerLayer } from "./ServiceLog.ts"
import { chooseSource, describeSource } from "./ServiceSource.ts"
import { runService } from "./Service.ts"
import { liveLayerFor } from "./ServiceLive.ts"
import { layerTracing, tracingConfig } from "./ServiceTracing.ts"

export const DEFAULT_HOST = "127.0.0.1"
export const DEFAULT_PORT = 8080

const Port = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

const flags = {
  host: Flag.String("host").pipe(
    Flag.withDescription(`Address to listen on (env AIBRIX_HOST, default ${DEFAULT_HOST}).`),
    Flag.optional
  ),
  port: Flag.Int("port").pipe(
    Flag.withSchema(Port),
    Flag.withDescription(`Port to listen on, 0 for any free port (env AIBRIX_PORT, default ${DEFAULT_PORT}).`),
    Flag.optional
  ),
  staticFile: Flag.String("static").pipe(
    Flag.withMetavar("FILE"),
    Flag.withDescription(
      "Serve the fleet listed in this YAML or JSON file (env AIBRIX_STATIC_CONFIG); re-read when it changes."
    ),
    Flag.optional
  ),
  demo: Flag.Boolean("demo").pipe(
    Flag.withDescription("Serve the built-in demo fleet of simulated engines, whatever else is configured."),
    Flag.withDefault(false)
  ),
  logFormat: Flag.Literals("log-format", LOG_FORMATS).pipe(
    Flag.withDescription("Log lines as logfmt or JSON (env AIBRIX_LOG_FORMAT, default logfmt)."),
    Flag.optional
  )
}

/** Longest drain allowed: with the server's close (2 s), the trace's last flush (3 s) and QUIT (1 s), a stop stays under 10 s. */
export const MAX_DRAIN_MS = 3_000
export const DEFAULT_DRAIN_MS = 2_000

/** `AIBRIX_SHUTDOWN_DRAIN_MS`: how long `/readyz` says 503 before the listener closes. */
export const drainConfig: Config.Config<Duration.Duration> = envValue(
  "AIBRIX_SHUTDOWN_DRAIN_MS",
  Duration.millis(DEFAULT_DRAIN_MS),
  `expected milliseconds from 0 to ${MAX_DRAIN_MS}`,
  (value) => {
    const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN
    return ms <= MAX_DRAIN_MS ? Duration.millis(ms) : undefined
  }
)

const logFormatConfig: Config.Config<LogFormat> = envValue(
  "AIBRIX_LOG_FORMAT",
  "logfmt",
  "expected logfmt or json",
  (value) => LOG_FORMATS.find((format) => format === value)
)

/** The flag's value, else the variable's, else the default. */
const orConfig = <A>(flag: Option.Option<A>, config: Config.Config<A>): Effect.Effect<A, Config.ConfigError> =>
  Option.match(flag, { onNone: (): Effect.Effect<A, Config.ConfigError> => config, onSome: Effect.succeed })

/** Why the service stopped, in one log line: the error's message, or the whole cause for a defect. */
const describeFailure = (cause: Cause.Cause<unknown>): string => {
  if (!Cause.hasFails(cause)) return Cause.pretty(cause)
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

/** The service stopped on a failure, already logged as its last line. */
export class ServiceFailed extends Data.TaggedError("ServiceFailed")<{ readonly reason: string }> {
  override readonly [Runtime.errorReported] = false
  override get message(): string {
    return this.reason
  }
}

/** Serves until interrupted. A failure is logged here, in the chosen format, as the last line. */
const serve = (input: Command.Command.Config.Infer<typeof flags>) =>
  Effect.gen(function* () {
    const format = yield* Effect.result(orConfig(input.logFormat, logFormatConfig))
    const service = Effect.gen(function* () {
      if (Result.isFailure(format)) return yield* Effect.fail(format.failure)
      const host = yield* orConfig(input.host, envString("AIBRIX_HOST", DEFAULT_HOST))
      const port = yield* orConfig(input.port, envListenPort("AIBRIX_PORT", DEFAULT_PORT))
      const drain = yield* drainConfig
      const source = yield* chooseSource(input)
      const tracing = yield* tracingConfig
      return yield* runService({
        host,
        port,
        drain,
        source: describeSource(source),
        live: liveLayerFor(source),
        ...(tracing === undefined ? {} : { traces: tracing.url })
      }).pipe(Effect.provide(layerTracing(tracing)))
    })
    return yield* service.pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        const reason = describeFailure(cause)
        return Effect.logError("failed").pipe(
          Effect.annotateLogs({ error: reason }),
          Effect.andThen(Effect.fail(new ServiceFailed({ reason })))
        )
      }),
      Effect.provide(loggerLayer(Result.isSuccess(format) ? format.success : "logfmt"))
    )
  })

export const command = Command.make("aibrix-cache", flags, serve).pipe(
  Command.withDescription(
    "Serves a live view of an LLM serving fleet (pods, models, LoRA adapters, engine metrics) over HTTP: " +
      "GET /v1/models, /v1/models/{model}/pods, /v1/pods/{namespace}/{name}, /healthz, /readyz, /metrics, " +
      "/openapi.json, /docs. " +
      "The fleet comes from --static FILE, else a Kubernetes cluster (KUBECONFIG, ~/.kube/config or " +
      "in-cluster), else a built-in demo of simulated engines. Redis (REDIS_HOST, REDIS_PORT, REDIS_PASSWORD) " +
      "is used only when AIBRIX_GPU_OPTIMIZER_TRACING_FLAG is true."
  ),
  Command.withExamples([
    { command: "aibrix-cache", description: "Serve the demo fleet on 127.0.0.1:8080 (no cluster configured)" },
    { command: "aibrix-cache --static fleet.yaml --port 9000", description: "Serve the engines listed in a file" },
    { command: "KUBECONFIG=~/.kube/dev aibrix-cache --host 0.0.0.0", description: "Serve a cluster's fleet" }
  ])
)

/** Runs the command on the process's arguments. */
export const cli = Command.run(command, { version: "0.1.0" })
