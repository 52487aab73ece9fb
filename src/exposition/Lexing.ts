/**
 * The lexical pieces of the text exposition format that the parser and the
 * page reader share: character classes, metric names, histogram suffixes and
 * sample values read as Go's `strconv.ParseFloat` reads them.
 */
export const RETURN = 13
export const SPACE = 32
export const TAB = 9
export const HASH = 35
export const QUOTE = 34
export const BACKSLASH = 92
export const COMMA = 44
export const EQUALS = 61
export const OPEN_BRACE = 123
export const CLOSE_BRACE = 125
export const DOT = 46
export const PLUS = 43
export const MINUS = 45
export const ZERO = 48
export const NINE = 57
export const LOWER_E = 101
export const UPPER_E = 69
export const LOWER_N = 110
export const UNDERSCORE = 95

export const NAME_START = 1
export const NAME_PART = 2
export const LABEL_START = 4
export const LABEL_PART = 8

/** Character classes of ASCII codes: metric names allow `:`, label names do not. */
export const CHAR_CLASS: Uint8Array = (() => {
  const table = new Uint8Array(128)
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
  for (let i = 0; i < letters.length; i++) {
    table[letters.charCodeAt(i)] = NAME_START | NAME_PART | LABEL_START | LABEL_PART
  }
  for (let code = ZERO; code <= NINE; code++) table[code] = NAME_PART | LABEL_PART
  table[":".charCodeAt(0)] = NAME_START | NAME_PART
  return table
})()

export const isClass = (code: number, klass: number): boolean => code < 128 && (CHAR_CLASS[code]! & klass) !== 0

/** Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export const isMetricName = (name: string): boolean => {
  if (name.length === 0 || !isClass(name.charCodeAt(0), NAME_START)) return false
  for (let i = 1; i < name.length; i++) if (!isClass(name.charCodeAt(i), NAME_PART)) return false
  return true
}

export const isBlank = (code: number): boolean => code === SPACE || code === TAB

export const isDigit = (code: number): boolean => code >= ZERO && code <= NINE

/** Exact powers of ten: a product or quotient of one with an integer below 2^53 is correctly rounded. */
export const POWERS_OF_TEN: ReadonlyArray<number> = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))

export const MAX_FAST_DIGITS = 15

const SPECIAL_VALUES: ReadonlyMap<string, number> = new Map([
  ["nan", NaN],
  ["inf", Infinity],
  ["+inf", Infinity],
  ["-inf", -Infinity],
  ["infinity", Infinity],
  ["+infinity", Infinity],
  ["-infinity", -Infinity]
])

/**
 * A sample value of `text[start, end)` as Go's `strconv.ParseFloat` reads it
 * (decimal forms, `NaN`, `Inf` in any case), or `undefined` when it is not one.
 */
export const numberAt = (text: string, start: number, end: number): number | undefined => {
  let i = start
  let code = text.charCodeAt(i)
  const negative = code === MINUS
  if (negative || code === PLUS) code = text.charCodeAt(++i)
  let mantissa = 0
  let digits = 0
  let exponent = 0
  while (i < end && isDigit(code)) {
    mantissa = mantissa * 10 + (code - ZERO)
    digits++
    code = text.charCodeAt(++i)
  }
  if (code === DOT && i < end) {
    code = text.charCodeAt(++i)
    while (i < end && isDigit(code)) {
      mantissa = mantissa * 10 + (code - ZERO)
      digits++
      exponent--
      code = text.charCodeAt(++i)
    }
  }
  if (digits === 0 || digits > MAX_FAST_DIGITS) return slowNumberAt(text, start, end)
  if (i < end && (code === LOWER_E || code === UPPER_E)) {
    code = text.charCodeAt(++i)
    const negativeExponent = code === MINUS
    if (negativeExponent || code === PLUS) code = text.charCodeAt(++i)
    let written = 0
    let exponentDigits = 0
    while (i < end && isDigit(code) && exponentDigits < 4) {
      written = written * 10 + (code - ZERO)
      exponentDigits++
      code = text.charCodeAt(++i)
    }
    if (exponentDigits === 0 || exponentDigits === 4) return slowNumberAt(text, start, end)
    exponent += negativeExponent ? -written : written
  }
  if (i !== end) return slowNumberAt(text, start, end)
  let value: number
  if (exponent === 0) value = mantissa
  else if (exponent > 0 && exponent <= 22) value = mantissa * POWERS_OF_TEN[exponent]!
  else if (exponent < 0 && exponent >= -22) value = mantissa / POWERS_OF_TEN[-exponent]!
  else return slowNumberAt(text, start, end)
  return negative ? -value : value
}

export const slowNumberAt = (text: string, start: number, end: number): number | undefined => {
  const first = text.charCodeAt(start)
  if (end - start === 4 && (first === PLUS || first === MINUS) && isWord(text, start + 1, "Inf")) {
    return first === PLUS ? Infinity : -Infinity
  }
  if (end - start === 3 && isWord(text, start, "NaN")) return NaN
  const token = text.slice(start, end)
  for (let i = 0; i < token.length; i++) {
    const code = token.charCodeAt(i)
    if (!(isDigit(code) || code === DOT || code === PLUS || code === MINUS || code === LOWER_E || code === UPPER_E)) {
      return SPECIAL_VALUES.get(token.toLowerCase())
    }
  }
  // Only a decimal is left, which Number reads as ParseFloat does; NaN means malformed.
  const value = Number(token)
  return Number.isNaN(value) ? undefined : value
}

/**
 * Whether `text[start, end)` is an infinity written as such (`+Inf`, `-inf`,
 * `Infinity`), rather than a decimal too large for a float, which reads as one.
 */
export const isInfinityAt = (text: string, start: number, end: number): boolean => {
  const first = text.charCodeAt(start)
  const word = text.slice(first === PLUS || first === MINUS ? start + 1 : start, end).toLowerCase()
  return word === "inf" || word === "infinity"
}

/** A sample value written as the format writes it (`1.5`, `NaN`, `+Inf`, `-1e-7`), or `undefined`. */
export const parseSampleValue = (text: string): number | undefined =>
  text.length === 0 ? undefined : numberAt(text, 0, text.length)

/** The length of the `_bucket`, `_sum` or `_count` that ends `name`, or 0. */
export const suffixLength = (name: string): number =>
  name.endsWith("_bucket") ? 7 : name.endsWith("_count") ? 6 : name.endsWith("_sum") ? 4 : 0

/**
 * The length of `_bucket`, `_sum` or `_count` when `text` has one of them
 * (after the `_` at `start - 1`) ending a name before `end`, else 0.
 */
export const suffixAt = (text: string, start: number, end: number): number => {
  const word = text.charCodeAt(start) === 98 ? "bucket" : text.charCodeAt(start) === 115 ? "sum" : "count"
  const after = start + word.length
  if (after > end || !isWord(text, start, word)) return 0
  return after === end || !isClass(text.charCodeAt(after), NAME_PART) ? word.length + 1 : 0
}

/** Whether `text` has the ASCII `word` at `start`. */
export const isWord = (text: string, start: number, word: string): boolean => {
  for (let i = 0; i < word.length; i++) {
    if (text.charCodeAt(start + i) !== word.charCodeAt(i)) return false
  }
  return true
}
