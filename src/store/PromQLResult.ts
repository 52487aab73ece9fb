/**
 * A decoded PromQL result: the `data` of a Prometheus `/api/v1/query` answer.
 */
import { Schema } from "effect"

/** `[unix seconds, "value"]`: Prometheus sends sample values as strings. */
export const SamplePair = Schema.Tuple([Schema.Finite, Schema.String])

const Labels = Schema.Record(Schema.String, Schema.String)

export const PromQLResult = Schema.Union([
  Schema.Struct({
    resultType: Schema.Literal("vector"),
    result: Schema.Array(Schema.Struct({ metric: Labels, value: SamplePair }))
  }),
  Schema.Struct({
    resultType: Schema.Literal("matrix"),
    result: Schema.Array(Schema.Struct({ metric: Labels, values: Schema.Array(SamplePair) }))
  }),
  Schema.Struct({ resultType: Schema.Literal("scalar"), result: SamplePair }),
  Schema.Struct({ resultType: Schema.Literal("string"), result: SamplePair })
])

export type PromQLResult = typeof PromQLResult.Type
