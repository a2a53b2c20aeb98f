/**
 * `@curator/node/otlp`: Curator's spans exported over OTLP/HTTP. Needs the
 * optional peer `@effect/opentelemetry` (`npm install @effect/opentelemetry`,
 * which brings the OpenTelemetry packages it names as peers).
 */
export * as OtlpTracing from "../OtlpTracing.js"
