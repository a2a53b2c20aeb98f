/**
 * A web dashboard over one checkpoint: progress, workers, the pipeline's
 * structure, an index browser, performance charts and the logs, updated
 * live while a run writes. It only reads, so it can watch a run in
 * progress through a read-only connection (`SqliteCheckpointStore.openFile`).
 *
 * @example
 * const program = Effect.gen(function*() {
 *   const checkpoint = yield* SqliteCheckpointStore.openFile("/data/cache/0123456789abcdef.db")
 *   const { url } = yield* Dashboard.serve(checkpoint, { port: 5006 })
 *   yield* Console.log(`dashboard at ${url}`)
 *   yield* Effect.never
 * }).pipe(Effect.scoped)
 */
import type { CheckpointStore } from "@curator/core"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Data, type Duration, Effect, type Scope } from "effect"
import * as http from "node:http"
import * as Assets from "./internal/dashboard/assets.js"
import * as Routes from "./internal/dashboard/routes.js"
import * as Views from "./internal/dashboard/views.js"

/** Where the dashboard listens and how often it looks for changes. */
export interface Options {
  /** The TCP port (default 5006); 0 picks a free one. */
  readonly port?: number | undefined
  /** The address to bind (default 127.0.0.1: this machine only). */
  readonly host?: string | undefined
  /** How often the live feed reads the database for changes (default 1 second). */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/** The dashboard could not start; the message says what to change. */
export class DashboardError extends Data.TaggedError("DashboardError")<{
  readonly reason: "CannotListen"
  readonly message: string
  readonly cause?: unknown
}> {}

const loopbackHosts = new Set(["127.0.0.1", "localhost", "::1"])

/**
 * The `Host` headers a loopback-bound dashboard answers: a page of another
 * site that resolves its own name to 127.0.0.1 (DNS rebinding) is refused.
 */
const allowedHosts = (host: string, port: number): ReadonlySet<string> | undefined =>
  loopbackHosts.has(host) ? new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) : undefined

/** The page may load only its own files and talk only to its own server. */
const securityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

const guard = (allowed: ReadonlySet<string> | undefined) =>
  HttpMiddleware.make((app) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (allowed !== undefined && !allowed.has(request.headers.host ?? "")) {
        return HttpServerResponse.unsafeJson({ error: "this dashboard answers only to localhost and 127.0.0.1" }, { status: 403 })
      }
      return HttpServerResponse.setHeaders(yield* app, securityHeaders)
    })
  )

/**
 * Serves the dashboard of `checkpoint` for the life of the scope and returns
 * its URL. The server only reads through the checkpoint's queries.
 */
export const serve = (
  checkpoint: CheckpointStore.Checkpoint,
  options: Options = {}
): Effect.Effect<{ readonly url: string }, DashboardError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const port = options.port ?? 5006
    const assets = yield* Assets.load
    const server = http.createServer()
    const httpServer = yield* NodeHttpServer.make(() => server, { host, port }).pipe(
      Effect.mapError((error) =>
        new DashboardError({
          reason: "CannotListen",
          message: `cannot listen on ${host}:${port} (${describe(error.cause)}); choose another --port or --host`,
          cause: error
        })
      )
    )
    // Open live feeds never end by themselves: close them so that the server can stop.
    yield* Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))
    const address = httpServer.address
    const boundPort = address._tag === "TcpAddress" ? address.port : port
    const views = yield* Views.make(checkpoint)
    // The first visitor of a 10⁶-index run should not wait for the whole-run aggregates: compute them now.
    yield* Effect.forkScoped(Effect.ignoreLogged(views.warm))
    const app = Routes.make(views, assets, options.pollInterval ?? "1 second")
    yield* HttpServer.serveEffect(guard(allowedHosts(host, boundPort))(app)).pipe(
      Effect.provideService(HttpServer.HttpServer, httpServer)
    )
    const shownHost = host.includes(":") ? `[${host}]` : host
    return { url: `http://${shownHost}:${boundPort}/` }
  })

const describe = (cause: unknown): string => {
  const code = (cause as { readonly code?: unknown })?.code
  if (code === "EADDRINUSE") return "the port is in use"
  if (code === "EACCES") return "permission denied"
  return cause instanceof Error ? cause.message : String(cause)
}
