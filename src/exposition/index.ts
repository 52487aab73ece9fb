/** The Prometheus text exposition format: its values, a fast parser, and a renderer. */
export * as Lexing from "./Lexing.ts"
export * as MetricFamily from "./MetricFamily.ts"
export * as Parser from "./Parser.ts"
export * as Render from "./Render.ts"
