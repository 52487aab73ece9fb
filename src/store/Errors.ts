/** The typed errors of the cache's read methods; each carries the key it missed. */
import { Schema } from "effect"

/** No tracked pod has this `namespace/name` key. */
export class PodNotFound extends Schema.TaggedError<PodNotFound>()("PodNotFound", {
  key: Schema.String
}) {
  override get message(): string {
    return `pod ${this.key} not found`
  }
}

/** No tracked pod serves this model or adapter. */
export class ModelNotFound extends Schema.TaggedError<ModelNotFound>()("ModelNotFound", {
  model: Schema.String
}) {
  override get message(): string {
    return `model ${this.model} not found`
  }
}

/** The pod is tracked but has no value for this metric (of this model, when given). */
export class MetricNotFound extends Schema.TaggedError<MetricNotFound>()("MetricNotFound", {
  key: Schema.String,
  metric: Schema.String,
  model: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const scope = this.model === undefined ? "" : ` of model ${this.model}`
    return `metric ${this.metric}${scope} not found on pod ${this.key}`
  }
}

/** A histogram percentile was asked for outside [0, 100]. */
export class InvalidPercentile extends Schema.TaggedError<InvalidPercentile>()("InvalidPercentile", {
  percentile: Schema.Number
}) {
  override get message(): string {
    return `percentile ${this.percentile} is outside [0, 100]`
  }
}
