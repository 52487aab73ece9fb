/**
 * OpenTelemetry traces of the service. When `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, Effect's own OTLP tracer sends
 * the sampled spans over OTLP/HTTP: the HTTP requests (but the probes and
 * `/metrics`), failed engine scrapes, PromQL queries, trace flushes and
 * informer restarts. Unset, no tracer and no exporter run at all: spans stay
 * Effect's native ones, which go nowhere.
 *
 * The standard variables are honoured: `OTEL_SERVICE_NAME` (default
 * `aibrix-cache`), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`,
 * `…_PROTOCOL` (`http/protobuf`, the default, or `http/json`), `…_COMPRESSION`,
 * `…_TIMEOUT` (each also in its `_TRACES_` form), `OTEL_BSP_SCHEDULE_DELAY`,
 * `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_TRACES_SAMPLER` and
 * `OTEL_TRACES_SAMPLER_ARG` (see `TraceSampling` for the default),
 * `OTEL_TRACES_EXPORTER` (`otlp`, the default, or `none`) and `OTEL_SDK_DISABLED`.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Config, ConfigProvider, Effect, Layer, Option, Tracer } from "effect"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { envBoolean, envValue } from "../EnvConfig.ts"
import {
  DEFAULT_REQUEST_RATIO,
  RequestSampler,
  requestSampler,
  type Sampler,
  SAMPLERS,
  type Sampling,
  sampledTracer
} from "./TraceSampling.ts"

export const DEFAULT_SERVICE_NAME = "aibrix-cache"

export const TRACE_PROTOCOLS = ["http/protobuf", "http/json"] as const
export type TraceProtocol = (typeof TRACE_PROTOCOLS)[number]

/** Where and how the spans go; the rest of the variables are read by Effect's tracer. */
export interface TracingSettings {
  /** The OTLP traces URL (`…/v1/traces` below the base endpoint). */
  readonly url: string
  readonly protocol: TraceProtocol
  readonly sampling: Sampling
}

const url = (name: string) =>
  envValue<URL | undefined>(name, undefined, "expected an http:// or https:// URL", (value) => {
    const parsed = URL.canParse(value) ? new URL(value) : undefined
    return parsed?.protocol === "http:" || parsed?.protocol === "https:" ? parsed : undefined
  })

/** The traces URL: the traces variable as it is, or `/v1/traces` below the base endpoint. */
const tracesUrl: Config.Config<string | undefined> = Config.all([
  url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  url("OTEL_EXPORTER_OTLP_ENDPOINT")
]).pipe(
  Config.map(([traces, base]) => {
    if (traces !== undefined) return traces.href
    if (base === undefined) return undefined
    base.pathname = `${base.pathname.replace(/\/$/, "")}/v1/traces`
    return base.href
  })
)

const protocol = (name: string) =>
  envValue<TraceProtocol | undefined>(
    name,
    undefined,
    "expected http/protobuf or http/json (grpc is not supported)",
    (value) => TRACE_PROTOCOLS.find((known) => known === value)
  )

/** Whether `OTEL_TRACES_EXPORTER` (a list) asks for OTLP: the default; `none` turns traces off. */
const exportsOtlp = envValue("OTEL_TRACES_EXPORTER", true, "expected otlp or none", (value) => {
  const exporters = value.split(",").map((exporter) => exporter.trim().toLowerCase())
  if (exporters.every((exporter) => exporter === "none")) return false
  return exporters.every((exporter) => exporter === "otlp" || exporter === "none" || exporter === "") ? true : undefined
})

const sampler = envValue<Sampler>("OTEL_TRACES_SAMPLER", "default", `expected one of ${SAMPLERS.join(", ")}`, (value) =>
  SAMPLERS.find((known) => known === value.toLowerCase())
)

const samplerArg = envValue<number | undefined>(
  "OTEL_TRACES_SAMPLER_ARG",
  undefined,
  "expected a ratio from 0 to 1",
  (value) => {
    const ratio = value === "" ? Number.NaN : Number(value)
    return ratio >= 0 && ratio <= 1 ? ratio : undefined
  }
)

/** The sampler and its ratio: 1 for the standard ratio samplers, 1% of new request traces by default. */
const sampling: Config.Config<Sampling> = Config.all({ sampler, arg: samplerArg }).pipe(
  Config.map(({ sampler, arg }) => ({ sampler, ratio: arg ?? (sampler === "default" ? DEFAULT_REQUEST_RATIO : 1) }))
)

/** The settings, or undefined when traces are off (no endpoint, `OTEL_SDK_DISABLED`, or `OTEL_TRACES_EXPORTER=none`). */
export const tracingConfig: Config.Config<TracingSettings | undefined> = Config.all({
  url: tracesUrl,
  disabled: envBoolean("OTEL_SDK_DISABLED", false),
  otlp: exportsOtlp,
  traces: protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
  base: protocol("OTEL_EXPORTER_OTLP_PROTOCOL"),
  sampling
}).pipe(
  Config.map(({ url, disabled, otlp, traces, base, sampling }) =>
    url === undefined || disabled || !otlp ? undefined : { url, protocol: traces ?? base ?? "http/protobuf", sampling }
  )
)

/** `OTEL_SERVICE_NAME`, else `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else ours. */
const serviceNameDefault: Config.Config<Record<string, string>> = Config.all({
  name: Config.option(Config.String("OTEL_SERVICE_NAME")),
  attributes: Config.option(Config.String("OTEL_RESOURCE_ATTRIBUTES"))
}).pipe(
  Config.map(({ name, attributes }) =>
    Option.isSome(name) || Option.exists(attributes, (text) => /(^|,)\s*service\.name\s*=/.test(text))
      ? {}
      : { OTEL_SERVICE_NAME: DEFAULT_SERVICE_NAME }
  )
)

/**
 * Effect's OTLP tracer for these settings, reading the other standard
 * variables itself. It wants `OTEL_TRACES_EXPORTER=otlp` spelled out; the
 * standard makes it the default, so it is supplied when unset, with the
 * service name's default.
 */
const otlpTracer = (settings: TracingSettings): Layer.Layer<never, Config.ConfigError> =>
  Layer.unwrap(
    Effect.map(serviceNameDefault, (defaults) =>
      OtlpTracer.layerFromConfig().pipe(
        Layer.provide(
          settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf
        ),
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.provide(
          ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ OTEL_TRACES_EXPORTER: "otlp", ...defaults }))
        )
      )
    )
  )

/**
 * The tracer of the settings with its request sampler, or nothing at all: with
 * traces off the layer is empty, and no exporter, HTTP client or fiber of it
 * exists.
 */
export const layerTracing = (settings: TracingSettings | undefined): Layer.Layer<never, Config.ConfigError> =>
  settings === undefined
    ? Layer.empty
    : Layer.merge(
        Layer.effect(Tracer.Tracer)(Effect.map(Effect.tracer, (otlp) => sampledTracer(otlp, settings.sampling))).pipe(
          Layer.provide(otlpTracer(settings))
        ),
        Layer.succeed(RequestSampler)(requestSampler(settings.sampling))
      )
