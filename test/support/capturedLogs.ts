/** A logger layer that keeps every log line, for tests that check what was logged. */
import { Layer, Logger, LogLevel } from "effect"

export interface CapturedLog {
  readonly level: LogLevel.LogLevel
  readonly message: string
}

export const capturedLogs = (): { readonly lines: Array<CapturedLog>; readonly layer: Layer.Layer<never> } => {
  const lines: Array<CapturedLog> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    lines.push({ level: logLevel, message: parts.map(String).join(" ") })
  })
  return { lines, layer: Logger.layer([logger]) }
}
