/**
 * The HTTP API of the cache service: every endpoint, with a schema for each
 * response and each error. The schemas have no transformations (their encoded
 * form is their type), so a handler on the hot path may serialize a value of
 * the type with `JSON.stringify` and stay within the schema. Numbers are
 * finite (the views turn `NaN` and infinities into `null`), so the OpenAPI
 * document says `number`, not the strings a non-finite number encodes to.
 *
 * `CacheApi` is exported from the package: an Effect app gets a typed client
 * with `HttpApiClient.make(CacheApi, { baseUrl })`.
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { PromQLResult } from "../store/PromQLResult.ts"

// ---- errors -----------------------------------------------------------------

/** An unknown model, pod or route. */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  {
    message: Schema.String
  },
  { httpApiStatus: 404 }
) {}

/** A request the API cannot read: a bad path parameter or query. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  {
    message: Schema.String
  },
  { httpApiStatus: 400 }
) {}

/** The cache has not applied its source's initial sync yet. */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  {
    message: Schema.String
  },
  { httpApiStatus: 503 }
) {}

/** What every error response holds: its `_tag` and a message. */
export const ErrorBody = Schema.Struct({ _tag: Schema.String, message: Schema.String })
export type ErrorBody = typeof ErrorBody.Type

// ---- metric values ----------------------------------------------------------

/** A number read from an engine; `NaN` and infinities are `null` in JSON. */
export const MetricNumber = Schema.NullOr(Schema.Finite)

/** A count, or unix seconds. */
const Count = Schema.Int

export const SimpleJson = Schema.Struct({ type: Schema.Literal("simple"), value: MetricNumber })
export const HistogramJson = Schema.Struct({
  type: Schema.Literal("histogram"),
  sum: MetricNumber,
  count: MetricNumber,
  mean: MetricNumber,
  /** Cumulative counts in ascending order of bound; `le` as Prometheus writes it (`+Inf`). */
  buckets: Schema.Array(Schema.Struct({ le: Schema.String, count: MetricNumber }))
})
export const PrometheusJson = Schema.Struct({
  type: Schema.Literal("prometheus"),
  result: PromQLResult
})
export const LabelJson = Schema.Struct({ type: Schema.Literal("label"), value: Schema.String })

/** A `MetricValue` as JSON. */
export const MetricJson = Schema.Union([SimpleJson, HistogramJson, PrometheusJson, LabelJson])
export type MetricJson = typeof MetricJson.Type

// ---- models -----------------------------------------------------------------

/** One entry of the OpenAI-compatible model list, a base model or a LoRA adapter. */
export const ModelObject = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("model"),
  /** Unix seconds: the oldest creation time known of the model's pods (or adapter). */
  created: Count,
  owned_by: Schema.String,
  /** The base model: the model itself, or the adapter's parent. */
  root: Schema.String,
  /** The base model an adapter runs on; `null` for a base model. */
  parent: Schema.NullOr(Schema.String),
  /** Pods that serve it, and how many of them are ready. */
  pods: Count,
  ready_pods: Count
})
export type ModelObject = typeof ModelObject.Type

export const ModelList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(ModelObject)
})
export type ModelList = typeof ModelList.Type

// ---- pods -------------------------------------------------------------------

/** The load figures a router looks at, for one pod serving one model. */
export const KeyMetrics = Schema.Struct({
  num_requests_running: MetricNumber,
  num_requests_waiting: MetricNumber,
  gpu_cache_usage_perc: MetricNumber,
  realtime_num_requests_running: MetricNumber
})
export type KeyMetrics = typeof KeyMetrics.Type

export const ModelPod = Schema.Struct({
  name: Schema.String,
  namespace: Schema.String,
  ip: Schema.String,
  ready: Schema.Boolean,
  /** The inference engine: the pod label `model.aibrix.ai/engine`, `vllm` when absent. */
  engine: Schema.String,
  base_model: Schema.String,
  /** The engine's last scrapes failed: its figures are old. */
  stale: Schema.Boolean,
  metrics: KeyMetrics
})
export type ModelPod = typeof ModelPod.Type

export const ModelPods = Schema.Struct({
  model: Schema.String,
  pods: Schema.Array(ModelPod)
})
export type ModelPods = typeof ModelPods.Type

export const PodDetail = Schema.Struct({
  name: Schema.String,
  namespace: Schema.String,
  ip: Schema.String,
  ready: Schema.Boolean,
  /** The inference engine: the pod label `model.aibrix.ai/engine`, `vllm` when absent. */
  engine: Schema.String,
  base_model: Schema.String,
  /** Base model first, then adapters. */
  models: Schema.Array(Schema.String),
  /** Requests the gateway routed to the pod and has not seen finish. */
  running_requests: Count,
  /** The engine's last scrapes failed: its figures are old. */
  stale: Schema.Boolean,
  /** Pod-scope metrics by name. */
  metrics: Schema.Record(Schema.String, MetricJson),
  /** Pod-model-scope metrics: model name -> metric name -> value. */
  model_metrics: Schema.Record(Schema.String, Schema.Record(Schema.String, MetricJson))
})
export type PodDetail = typeof PodDetail.Type

// ---- probes -----------------------------------------------------------------

export const Health = Schema.Struct({ status: Schema.Literal("ok") })

export const Readiness = Schema.Struct({
  ready: Schema.Boolean,
  pods: Count,
  models: Count
})
export type Readiness = typeof Readiness.Type

/** The Prometheus text exposition format the `/metrics` endpoint speaks. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

// ---- parameters -------------------------------------------------------------

const Name = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(253))

/** A Kubernetes namespace: a DNS label. */
const Namespace = Schema.String.check(
  Schema.isPattern(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
    message: "Expected a Kubernetes namespace (a DNS label: lowercase letters, digits and '-', at most 63)"
  })
)

// ---- the API ----------------------------------------------------------------

/** What the OpenAPI document says of an endpoint. */
const documented = (summary: string, description: string) => OpenApi.annotations({ summary, description })

export class ModelsGroup extends HttpApiGroup.make("models", { topLevel: true }).add(
  HttpApiEndpoint.get("listModels", "/v1/models", {
    success: ModelList
  }).annotateMerge(
    documented(
      "List models",
      "The OpenAI-compatible model list: base models and LoRA adapters (an adapter with its parent base model)."
    )
  ),
  HttpApiEndpoint.get("listModelPods", "/v1/models/:model/pods", {
    params: { model: Name },
    query: { ready: Schema.optional(Schema.Literals(["true", "false"])) },
    success: ModelPods,
    error: [NotFound, BadRequest]
  }).annotateMerge(
    documented(
      "A model's pods",
      "The pods serving a model or adapter, with readiness and the load figures a router reads; " +
        "`ready=true` keeps the ready ones."
    )
  ),
  HttpApiEndpoint.get("getPod", "/v1/pods/:namespace/:name", {
    params: { namespace: Namespace, name: Name },
    success: PodDetail,
    error: [NotFound, BadRequest]
  }).annotateMerge(
    documented(
      "One pod",
      "A pod's models (base first, then adapters), the gateway's running count, and every metric it has."
    )
  )
) {}

export class OpsGroup extends HttpApiGroup.make("ops", { topLevel: true }).add(
  HttpApiEndpoint.get("healthz", "/healthz", { success: Health }).annotateMerge(
    documented("Liveness", "200 while the process is up.")
  ),
  HttpApiEndpoint.get("readyz", "/readyz", { success: Readiness, error: NotReady }).annotateMerge(
    documented("Readiness", "200 once the source's initial sync is in the store, 503 before.")
  ),
  HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: EXPOSITION_CONTENT_TYPE }))
  }).annotateMerge(documented("The service's own metrics", "Prometheus text exposition format 0.0.4."))
) {}

/** The service's API, as `HttpApiClient.make(CacheApi, { baseUrl })` and the OpenAPI document read it. */
export class CacheApi extends HttpApi.make("aibrix-cache")
  .add(ModelsGroup)
  .add(OpsGroup)
  .annotateMerge(
    OpenApi.annotations({
      title: "aibrix-cache",
      version: "0.1.0",
      description: "A live view of an LLM serving fleet: pods, models, LoRA adapters and engine metrics."
    })
  ) {}
