/**
 * Settings read from single environment variables with Effect `Config`. A bad
 * value fails with a `ConfigError` naming the variable and the value found.
 */
import { Config, Effect, Schema, SchemaIssue } from "effect"

const invalid = (name: string, value: string, expected: string): Config.ConfigError =>
  new Config.ConfigError(
    new Schema.SchemaError(
      new SchemaIssue.Pointer(
        [name],
        new SchemaIssue.InvalidValue({ message: `${expected}, got ${JSON.stringify(value)}` })
      )
    )
  )

/** A variable parsed by `parse` (undefined: not valid), or `fallback` when unset. */
export const envValue = <A>(
  name: string,
  fallback: A,
  expected: string,
  parse: (value: string) => A | undefined
): Config.Config<A> =>
  Config.String(name).pipe(
    Config.mapEffect((value) => {
      const parsed = parse(value.trim())
      return parsed === undefined ? Effect.fail(invalid(name, value, expected)) : Effect.succeed(parsed)
    }),
    Config.withDefault(fallback)
  )

// Go's strconv.ParseBool, as the reference reads its flags, plus the words Effect accepts.
const TRUE = new Set(["1", "t", "true", "y", "yes", "on"])
const FALSE = new Set(["0", "f", "false", "n", "no", "off"])

/** A boolean variable: true/false, 1/0, t/f, yes/no, y/n, on/off (any case). */
export const envBoolean = (name: string, fallback: boolean): Config.Config<boolean> =>
  envValue(name, fallback, "expected a boolean (true or false)", (value) => {
    const word = value.toLowerCase()
    return TRUE.has(word) ? true : FALSE.has(word) ? false : undefined
  })

const portIn =
  (lowest: number) =>
  (value: string): number | undefined => {
    const port = /^\d+$/.test(value) ? Number(value) : Number.NaN
    return port >= lowest && port <= 65535 ? port : undefined
  }

/** A TCP port to connect to: an integer in [1, 65535]. */
export const envPort = (name: string, fallback: number): Config.Config<number> =>
  envValue(name, fallback, "expected a port (an integer from 1 to 65535)", portIn(1))

/** A TCP port to listen on: an integer in [0, 65535], 0 meaning any free port. */
export const envListenPort = (name: string, fallback: number): Config.Config<number> =>
  envValue(name, fallback, "expected a port (an integer from 0 to 65535, 0 for any free port)", portIn(0))

/** A non-empty string variable. */
export const envString = (name: string, fallback: string): Config.Config<string> =>
  envValue(name, fallback, "expected a non-empty string", (value) => (value === "" ? undefined : value))

/** A positive integer variable. */
export const envPositiveInt = (name: string, fallback: number): Config.Config<number> =>
  envValue(name, fallback, "expected a positive integer", (value) => {
    const number = /^\d+$/.test(value) ? Number(value) : Number.NaN
    return Number.isSafeInteger(number) && number > 0 ? number : undefined
  })

/** A positive number variable (a decimal such as `1500` or `0.5`). */
export const envPositiveNumber = (name: string, fallback: number): Config.Config<number> =>
  envValue(name, fallback, "expected a positive number", (value) => {
    const number = /^(\d+\.?\d*|\.\d+)$/.test(value) ? Number(value) : Number.NaN
    return Number.isFinite(number) && number > 0 ? number : undefined
  })
