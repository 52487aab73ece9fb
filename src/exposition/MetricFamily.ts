/**
 * The values of the Prometheus text exposition format (0.0.4): samples, the
 * families they form, a parsed page, and the error of a page that is not one.
 */
import { Schema } from "effect"

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped"

export interface Sample {
  /** The full sample name, e.g. `vllm:e2e_request_latency_seconds_bucket`. */
  readonly name: string
  /** `{}` when the sample has none. */
  readonly labels: Readonly<Record<string, string>>
  /** May be `NaN`, `Infinity` or `-Infinity`. */
  readonly value: number
  /** Milliseconds since the epoch, when the line gives one. */
  readonly timestamp: number | undefined
}

export interface MetricFamily {
  /** For the `_bucket`, `_sum` and `_count` samples of a histogram or summary, the name without the suffix. */
  readonly name: string
  /** `untyped` when there is no TYPE line. */
  readonly type: MetricType
  readonly help: string | undefined
  readonly samples: ReadonlyArray<Sample>
}

export interface ParsedPage {
  /** The families with at least one sample, by family name; malformed ones are left out. */
  readonly families: ReadonlyMap<string, MetricFamily>
  /**
   * Families a line spoils though it parses, each with why its first such line does: a value out of float range (`1e400`, which would read as
   * infinity), or, on a page whose bytes were not all UTF-8, a label value
   * that was not (it would read as U+FFFD and could merge two series). Only
   * families asked for are checked.
   */
  readonly malformedFamilies: ReadonlyMap<string, string>
  /** Malformed lines skipped (only with `malformed: "skip"`). */
  readonly skippedLines: number
}

export interface ParseOptions {
  /** Parse only these families; the lines of others are skipped without being checked. */
  readonly families?: ReadonlySet<string>
  /** What a malformed line does: fail the parse (the default) or get skipped and counted. */
  readonly malformed?: "fail" | "skip"
  /**
   * The text was decoded from bytes that were not all UTF-8, replacing what
   * was not with U+FFFD: a label value holding one marks its family malformed.
   */
  readonly invalidUtf8?: boolean
}

export class ExpositionParseError extends Schema.TaggedError<ExpositionParseError>()("ExpositionParseError", {
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `line ${this.line}: ${this.reason}`
  }
}
