/**
 * The lexical pieces of the text exposition format that the parser and the
 * page reader share: character classes, comment lines, histogram suffixes and
 * sample values read as Go's `strconv.ParseFloat` reads them.
 */
export const NEWLINE = 10
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

/** The first position in `[start, end)` that is not a blank, else `end`. */
export const skipBlanks = (text: string, start: number, end: number): number => {
  let cursor = start
  while (cursor < end && isBlank(text.charCodeAt(cursor))) cursor++
  return cursor
}

/** The end of the word at `start`: the first blank, else `end`. */
export const wordEnd = (text: string, start: number, end: number): number => {
  let cursor = start
  while (cursor < end && !isBlank(text.charCodeAt(cursor))) cursor++
  return cursor
}

/** The keyword of a comment line: `HELP`, `TYPE`, `EOF` with nothing after it, or anything else. */
export type CommentKind = 0 | 1 | 2 | 3
export const CommentKind = { Other: 0, Help: 1, Type: 2, EndOfPage: 3 } as const

/**
 * A comment line read as the format reads it, into its fields (nothing is
 * allocated per line): the keyword after the `#`, and for a HELP or TYPE line
 * where its metric name is and the word after it. The parser and the page
 * layout both read comment lines with it.
 */
export class CommentLine {
  kind: CommentKind = CommentKind.Other
  /** The metric name after the keyword: `nameStart === nameEnd` when no name character starts it. */
  nameStart = 0
  nameEnd = 0
  /** The word after the name and its blanks (a TYPE line's type), and whether only blanks follow it. */
  wordStart = 0
  wordEnd = 0
  blankAfterWord = true

  /** Reads the line `[start, end)` of `text`, `start` just after its `#`. */
  read(text: string, start: number, end: number): CommentKind {
    const keywordStart = skipBlanks(text, start, end)
    const keywordEnd = wordEnd(text, keywordStart, end)
    const length = keywordEnd - keywordStart
    if (length === 3 && isWord(text, keywordStart, "EOF")) {
      this.kind = skipBlanks(text, keywordEnd, end) === end ? CommentKind.EndOfPage : CommentKind.Other
      return this.kind
    }
    const help = length === 4 && isWord(text, keywordStart, "HELP")
    if (!help && !(length === 4 && isWord(text, keywordStart, "TYPE"))) {
      this.kind = CommentKind.Other
      return this.kind
    }
    this.kind = help ? CommentKind.Help : CommentKind.Type
    const nameStart = skipBlanks(text, keywordEnd, end)
    let nameEnd = nameStart
    if (nameEnd < end && isClass(text.charCodeAt(nameEnd), NAME_START)) {
      nameEnd++
      while (nameEnd < end && isClass(text.charCodeAt(nameEnd), NAME_PART)) nameEnd++
    }
    this.nameStart = nameStart
    this.nameEnd = nameEnd
    this.wordStart = skipBlanks(text, nameEnd, end)
    this.wordEnd = wordEnd(text, this.wordStart, end)
    this.blankAfterWord = skipBlanks(text, this.wordEnd, end) === end
    return this.kind
  }

  /**
   * Whether the HELP or TYPE line names a family as the format wants: a metric
   * name followed by a blank, or ending the line (HELP only).
   */
  namesFamily(text: string, end: number): boolean {
    if (this.nameEnd === this.nameStart) return false
    if (this.nameEnd === end) return this.kind === CommentKind.Help
    return isBlank(text.charCodeAt(this.nameEnd))
  }
}
