import { Result, Schema } from "effect"

/** Why a value does not match a schema, on one line (for a log line that skips it). */
export const explainMismatch = <S extends Schema.Decoder<unknown>>(schema: S) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (value: unknown): string => {
    const result = decode(value)
    return Result.isFailure(result) ? result.failure.message.replace(/\s*\n\s*/g, " ") : "valid"
  }
}
