/**
 * A string kept from one engine page to the next (a family's or model's name,
 * a series' head, a label's value) must not be a slice of the page: V8 keeps
 * a slice's whole parent alive, so one short name would hold a 47 KB page,
 * and through the reads that keep it, pages would outlive their next scrape
 * and be copied into the old generation instead of dying young.
 */

/** Slices shorter than this are copied by V8 anyway. */
const SLICE_MIN_LENGTH = 13

/** `text` as a string of its own, holding no larger string alive. */
export const detached = (text: string): string =>
  // Concatenated then sliced, the string is flattened into a new one of its own length (plus one).
  text.length < SLICE_MIN_LENGTH ? text : ` ${text}`.slice(1)
