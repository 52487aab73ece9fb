/** The live layers: the cache wired to discovery, metric refresh and the trace, as the reference's constructors. */
export * as Live from "./Live.ts"
