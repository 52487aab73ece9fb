/**
 * The service's log lines: one per lifecycle event, structured as logfmt
 * (`key=value`) or as one JSON object per line. Secrets are `Redacted` values
 * wherever they are read, so no line can print one.
 */
import { type Layer, Logger } from "effect"

export const LOG_FORMATS = ["logfmt", "json"] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** Replaces the default logger with one that writes the given format to stdout. */
export const loggerLayer = (format: LogFormat): Layer.Layer<never> =>
  Logger.layer([format === "json" ? Logger.consoleJson : Logger.consoleLogFmt])
